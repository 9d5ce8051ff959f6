# frozen_string_literal: true

# The Sequel side of the bench: Sequel's own pg_static_cache_updater + static_cache plugin, used as
# its documentation shows, plus one hook that reports each reload to the driver on stdout.
#
# Protocol (read by bench/src/protocol.ts; ours are `pg-static-cache watch`, read from its stdout):
#   ready <reloads> <max name>          once the cache is loaded and LISTEN is active
#   reload <reloads> <max name>         after every reload
#   digest <reloads> <sha256 of names>  right after, for the burst's convergence check
# The driver sets `name` to an increasing token, so the greatest name is the newest update
# (updated_at would do in Ruby, but JavaScript Dates only keep milliseconds and can tie).

require 'digest'
require 'sequel'

$stdout.sync = false
DB = Sequel.connect(ENV.fetch('DATABASE_URL'))
DB.extension :pg_static_cache_updater

# PSC_BENCH_TABLE (schema.table) names another table to hold: the 100,000-row step's.
schema, table = ENV.fetch('PSC_BENCH_TABLE', 'psc_bench.bench_items').split('.', 2)
class Item < Sequel::Model(Sequel[schema.to_sym][table.to_sym])
  plugin :static_cache
end

def max_name(rows)
  best = nil
  rows.each { |row| best = row.name if best.nil? || row.name > best }
  best
end

def report(kind, count, value)
  $stdout.write("#{kind} #{count} #{value}\n")
  $stdout.flush
end

$reloads = 0

Item.singleton_class.prepend(Module.new do
  def load_cache
    super
    $reloads += 1
    rows = all
    report('reload', $reloads, max_name(rows))
    # Static cache rows come in table order; the digest wants them by primary key.
    report('digest', $reloads, Digest::SHA256.hexdigest(rows.sort_by(&:id).map(&:name).join("\n")))
  end
end)

listening = Queue.new
listener = DB.listen_for_static_cache_updates(
  [Item],
  after_listen: proc { listening << true },
  before_thread_exit: proc { listening << false },
)
# The listener thread runs LISTEN on its own connection: ready only once it has.
exit(1) unless listening.pop
report('ready', $reloads, max_name(Item.all))

Signal.trap('TERM') { exit(0) }
listener.join
