import type { Command } from './args.js';

const GLOBAL = `global options (before or after the command):
  --nats URL       NATS server URL(s), comma-separated. Default: $NATS_URL, else "natsUrl"
                   in .synod/cluster.json (current directory, then the repository root;
                   \`npm start\` writes it), else nats://127.0.0.1:4222
  --cluster NAME   cluster name. Default: $SYNOD_CLUSTER, else "cluster" in
                   .synod/cluster.json, else synod
  --timeout MS     deadline of a propose or a read, in milliseconds (default 5000)
  --json           machine-readable output: one JSON object per line (errors too, on stderr)
  -h, --help       help; \`synod <command> --help\` for one command

environment: NATS_URL, SYNOD_CLUSTER, NATS_USER and NATS_PASSWORD (NATS credentials)

exit codes: 0 ok, 2 usage error, 3 unavailable (nobody answered), 4 outcome unknown,
            5 overloaded, 1 anything else`;

const OVERVIEW = `synod: the command-line client of a Synod cluster (Multi-Paxos over NATS)

usage: synod <command> [arguments] [options]

commands:
  propose <value...>          propose a value; prints the slot in which it was chosen
  read <slot>                 print the decided value of one slot
  read --from N [--limit M]   print up to M decided slots from slot N
  watch [--from N]            follow the decided log as it grows (Ctrl-C stops)
  status                      each service's state, the leader, the last chosen slot
  help [command]              this overview, or one command's help

${GLOBAL}

examples:
  synod propose SET x 1
  synod read 0
  synod read --from 0 --limit 20 --json
  synod watch --from 0
  synod status --nats nats://10.0.0.5:4222 --cluster prod`;

const PROPOSE = `usage: synod propose [--client-id ID --seq N] [--] <value...>

Proposes one command whose payload is the arguments joined with spaces, and waits until a
proposer answers that it was chosen:
  chosen slot=12 client=c-0123456789ab seq=1 (3.2 ms)
A lost request is sent again with the same client id and seq until --timeout, so a retry can
never be chosen twice. When the deadline passes:
  - nobody listened at all: nothing was proposed (exit 3);
  - proposers stayed overloaded: nothing was queued (exit 5);
  - an attempt may have reached a proposer: the value may or may not be chosen (exit 4). The
    message prints the command that retries it safely, with the same --client-id and --seq.

options:
  --client-id ID   the client id (1 to 64 of [A-Za-z0-9_-]); default a random c-<12 hex>
  --seq N          the command's seq (default 1); with --client-id, retries that command
  --               ends the options: the rest is the value, even if it starts with '-'

examples:
  synod propose SET x 1
  synod propose --json -- -1 is a fine value
  synod propose --client-id c-0123456789ab --seq 1 -- 'SET x 1'   # retry an unknown outcome

${GLOBAL}`;

const READ = `usage: synod read <slot>
       synod read --from N [--limit M]

Reads the decided log from a learner. With <slot>, prints that slot's commands (or the no-op)
one per line, or "not decided yet" when the learner that answered has not delivered it:
  slot 12  [c-0123456789ab#1] hello
With --from, prints up to --limit slots (default 100, at most 1000) from slot N, then which
learner answered and up to where it has delivered. A command marked "duplicate" is a later copy
of one decided earlier, which applications skip.

options:
  --from N    first slot of a range read
  --limit M   most slots of a range read, 1..1000 (default 100)

--json prints {"slot":12,"decided":true,"value":{...}} for one slot, and the learner's reply
{"learner":..,"nextSlot":..,"entries":[..]} for a range.

examples:
  synod read 0
  synod read --from 100 --limit 50 --json

${GLOBAL}`;

const WATCH = `usage: synod watch [--from N]

Prints every decided slot from slot N (default 0) in order, each exactly once, then keeps
following the log as learners deliver new slots, until Ctrl-C (exit 0):
  slot 12  [c-0123456789ab#1] hello
History is read from learners; new slots arrive as learners publish them; any gap is filled by
reading. If learners stop answering after output began, it warns on stderr and keeps trying.

options:
  --from N    first slot to print (default 0)

--json prints one entry per line: {"slot":12,"value":{...}} (with "dups" when some commands
are duplicates).

examples:
  synod watch
  synod watch --from 1000 --json | jq -c .value

${GLOBAL}`;

const STATUS = `usage: synod status [--wait MS]

Asks every service of the cluster for its status and prints a table (role, id, state, ballot,
slots), then a summary: the leader, how many acceptors answered (of how many, when the local
cluster's .synod/cluster.json says) and vote, and the last chosen slot (the highest slot a
learner has delivered). Exits 3 when no service answers.

options:
  --wait MS   how long to collect answers (default 500)

examples:
  synod status
  synod status --json | jq .leader

${GLOBAL}`;

const HELP = `usage: synod help [command]

Prints the overview, or the help of one command (propose, read, watch, status).`;

/** The help text of a command, or the overview. */
export function helpText(command: Command | null): string {
  switch (command) {
    case null:
      return OVERVIEW;
    case 'propose':
      return PROPOSE;
    case 'read':
      return READ;
    case 'watch':
      return WATCH;
    case 'status':
      return STATUS;
    case 'help':
      return HELP;
  }
}
