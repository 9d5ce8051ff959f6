import { describe, expect, it } from 'vitest';
import { FailureStreak } from './failure-streak.ts';

describe('FailureStreak', () => {
  it('reports the first failure of each streak and the success that ends it, nothing between', () => {
    const lines: string[] = [];
    const streak = new FailureStreak<Error>({
      started: (error) => lines.push(`failing: ${error.message}`),
      ended: () => lines.push('works again'),
    });
    expect(streak.succeed()).toBe(false);
    expect(streak.failing).toBe(false);
    expect(streak.fail(new Error('first'))).toBe(true);
    expect(streak.fail(new Error('second'))).toBe(false);
    expect(streak.fail(new Error('third'))).toBe(false);
    expect(streak.failing).toBe(true);
    expect(streak.succeed()).toBe(true);
    expect(streak.succeed()).toBe(false);
    expect(streak.fail(new Error('again'))).toBe(true);
    expect(lines).toEqual(['failing: first', 'works again', 'failing: again']);
  });

  it('reports no end when told nothing for it', () => {
    const started: number[] = [];
    const streak = new FailureStreak<number>({ started: (n) => started.push(n) });
    streak.fail(1);
    expect(streak.succeed()).toBe(true);
    streak.fail(2);
    expect(started).toEqual([1, 2]);
  });
});
