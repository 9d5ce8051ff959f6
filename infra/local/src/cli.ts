// `npm run services -- start|stop|status|env`: the local Postgres and Redis for people and scripts.
import { servicesStatus, serviceUrls, startServices, stopServices } from './index.ts';

const log = (line: string) => process.stderr.write(`[services] ${line}\n`);

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'start': {
      const services = await startServices({ log });
      process.stdout.write(
        `export DATABASE_URL=${services.databaseUrl}\nexport REDIS_URL=${services.redisUrl}\n`,
      );
      return 0;
    }
    case 'stop':
      await stopServices({ log });
      return 0;
    case 'status': {
      const pids = await servicesStatus();
      process.stdout.write(
        `postgres: ${pids.postgres ?? 'stopped'}\nredis: ${pids.redis ?? 'stopped'}\n`,
      );
      return 0;
    }
    case 'env': {
      const urls = serviceUrls();
      process.stdout.write(
        `export DATABASE_URL=${urls.databaseUrl}\nexport REDIS_URL=${urls.redisUrl}\n`,
      );
      return 0;
    }
    default:
      process.stderr.write('usage: npm run services -- start|stop|status|env\n');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`services: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
