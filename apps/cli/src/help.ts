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

environment: NATS_URL, SYNOD_CLUSTER, NATS_USER and NATS_PASSWORD (NATS credentials);
  SYNOD_DATA_DIR: the --data-dir of \`npm start\` when not .synod/ (its cluster.json and traces)
  A cluster.json that is there but malformed is a usage error naming it (exit 2), never skipped.

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
  trace [<request-id>|<slot>] one round as a timeline: a lane per service, every message and
                              Redis write with its offset in ms, the quorum moment marked
  elect <group> --as ID       campaign for a group's lease; print the fencing token,
                              renewals and loss (Ctrl-C resigns)
  help [command]              this overview, or one command's help

${GLOBAL}

examples:
  synod propose SET x 1
  synod read 0
  synod read --from 0 --limit 20 --json
  synod watch --from 0
  synod status --nats nats://10.0.0.5:4222 --cluster prod
  synod trace c-0123456789ab#1`;

const PROPOSE = `usage: synod propose [--client-id ID --seq N] [--] <value...>

Proposes one command whose payload is the arguments joined with spaces, and waits until a
proposer answers that it was chosen, printing the slot and the request id (clientId#seq):
  chosen slot=12 request=c-0123456789ab#1 (3.2 ms)
\`synod trace c-0123456789ab#1\` then shows that round (with \`npm start\`).
A lost request is sent again with the same client id and seq until --timeout, so a retry can
never be chosen twice. When the deadline passes:
  - nobody listened at all: nothing was proposed (exit 3);
  - proposers stayed overloaded: nothing was queued (exit 5);
  - an attempt may have reached a proposer: the value may or may not be chosen (exit 4). The
    message prints the command that retries it safely, with the same --client-id and --seq.

options:
  --client-id ID   the client id (1 to 64 of [A-Za-z0-9_-]: it is the requests' sender token,
                   docs/protocol.md); default a random c-<12 hex>
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

A word that looks like a negative number (-1) is an argument, not an option: it gets the range
message of the option before it, or of the slot.

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
learner has delivered). An acceptor that does not vote shows NOT VOTING (<code>), and its
whole reason on a line under the table. Exits 3 when no service answers.

options:
  --wait MS   how long to collect answers (default 500)

examples:
  synod status
  synod status --json | jq .leader

${GLOBAL}`;

const TRACE = `usage: synod trace [<request-id> | <slot>] [--file PATH] [--wait MS]

Draws one Paxos round from the spans the services exported: a lane per service (the client,
proposers, acceptors, learners), each message sent (>) or received (<) and each Redis write (#)
with its offset in milliseconds from the client's call, the quorum moment (*) marked. Give the
request id that \`synod propose\` printed (clientId#seq), a slot number, or nothing for the
latest request. A request batched with others shows the round of its slot.

Spans come from the file \`npm start\` keeps (.synod/traces/spans.ndjson, named in
.synod/cluster.json; the services export OTLP/HTTP to a receiver of its own). Without a local
cluster, give --file (or $SYNOD_TRACES_FILE). It needs no connection to NATS.

options:
  --file PATH   an NDJSON file of spans, as the local receiver writes it
  --wait MS     how long to wait for the round's spans to arrive (default 3000)

--json prints the round as one object: lanes, items and offsets.

examples:
  synod propose hello            # chosen slot=0 request=c-0123456789ab#1 (2.1 ms)
  synod trace c-0123456789ab#1
  synod trace 0 --json | jq '.lanes[].id'

exit codes: 0 shown, 1 no such round among the spans, 2 usage error, 3 no span file.`;

const HELP = `usage: synod help [command]

Prints the overview, or the help of one command (propose, read, watch, status, trace, elect).`;

const ELECT = `usage: synod elect <group> --as <candidate> [--ttl MS]

Campaigns for the lease of <group> (leader election on the replicated log, see
docs/election.md) and waits until it holds it, then prints its fencing token:
  12:00:01.204  ELECTED: app-1 leads orders with fencing token 41 (valid for 4000 ms ...)
It renews in the background and prints each renewal; when a renewal cannot be confirmed in
time, or the log shows the term over, it prints LOST and campaigns again. Meanwhile every
change of holder that the log shows is printed as a "log:" line. Ctrl-C resigns, so that
another candidate takes over at once, and exits 0. While it gets nowhere (no learner answers,
no proposer decides its campaign) it says why every 5 seconds ("still waiting: ...").

Try it with two terminals: run it in both, then suspend the leader with Ctrl-Z: the other one
takes over once the lease has run out (log time); \`fg\` the first one: it prints LOST.

options:
  --as ID          the candidate id (1 to 128 of [A-Za-z0-9._:/-]); required
  --ttl MS         the lease, in milliseconds, 100..86400000 (default 5000)

Its election commands travel under a fresh random client id of each run (docs/election.md):
only this process can renew or resign the terms it wins, and a restarted one campaigns anew.

--json prints one object per event: campaigning, holder, elected, renewed, lost, resigned,
waiting.

examples:
  synod elect orders --as app-1
  synod elect orders --as app-2 --ttl 2000 --json

${GLOBAL}`;

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
    case 'trace':
      return TRACE;
    case 'elect':
      return ELECT;
    case 'help':
      return HELP;
  }
}
