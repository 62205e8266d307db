/**
 * The `smmuv3` command line: `deno task cli decode ste 0x…`, or from JSR
 * `deno run --allow-read --allow-write jsr:@iommu/smmuv3/cli --help`. It reads files and stdin; it writes a file only
 * for `trace --html`.
 * @module
 */
import { decodeCommand } from "./src/cli/decode_command.ts";
import { type CliIo, InputError, oneOf } from "./src/cli/io.ts";
import { stateCommand } from "./src/cli/state.ts";
import { traceCommand } from "./src/cli/trace_command.ts";
import { VERSION } from "./src/cli/version.ts";

export type { CliIo };

const HELP = `smmuv3 ${VERSION}: tools for Arm SMMUv3 (IHI 0070) structures

usage:
  smmuv3 decode <kind> [options] <hex…>     decode hex given as arguments
  smmuv3 decode <kind> [options] -          … read from stdin (hex, or a Linux kernel log)
  smmuv3 decode <kind> [options] --file F   … read from a file
  smmuv3 trace <scenario.json|.yaml> [--json] [--allow-deviations F] [--html out.html]
                                            run a scenario; print each DMA's table walk, result and events
  smmuv3 state <blob>                       print a saved-state blob (Smmu.save()) as JSON
  smmuv3 --version | --help

kinds:
  ste, cd, l1std, l1cd, pri      the structure of that name
  cmd                            a command; the layout is chosen by the opcode in bits [7:0]
  event                          an event record; the layout is chosen by the type in bits [7:0]
  pte                            a VMSAv8-64 translation table descriptor (see --stage, --level, --granule)
  reg NAME                       a register value (one hex number, up to 64 bits), e.g. reg STRTAB_BASE 0x…

input:
  Tokens are separated by spaces, commas or semicolons; 0x and _ separators are optional.
  A token of up to 8 hex digits is one 32-bit word, of 9 to 16 digits one 64-bit word. A longer token (a blob) is
  a run of 64-bit words of exactly 16 digits each, dword 0 first, each most significant digit first (Linux's
  0x%016llx words joined). Words are taken low word first, in the order they appear. A one-dword record
  (pte, l1std, l1cd) given as a single number is that 64-bit number, however few its digits.

Linux logs (decode event, decode cmd):
  Input with an arm-smmu-v3 "event 0xNN received:" or "skipping command in error state:" line is a kernel log: as
  dmesg (also -T, --color=always), journalctl, /dev/kmsg or a serial console (CRLF) print it, from Linux 4.x to
  6.15+ (whose summary line names the client device). Every complete record is decoded, with its time, SMMU and
  client; each block that gives none (cut short, a reserved type…) is one warning line on stderr. Lines of other
  devices between a block's lines are skipped.

options:
  --json                 machine-readable output: every value is a "0x…" string
  --width auto|32|64     force every token to be one word of that width (default auto)
  --bytes                read the hex as bytes in memory order (little-endian), as xxd -p prints them
  --stage 1|2            pte: the stage of the walk (default 1)
  --level 0|1|2|3        pte: the level the descriptor was read at (default 3)
  --granule 4k|16k|64k   pte: the translation granule (default 4k)

trace scenarios:
  The steps of the recorded vectors (tests/vectors/qemu-7.2, format in its README): comment, mem_write {addr, hex},
  mmio_write {offset, size, value}, mmio_read {offset, size, observed?}, dma {sid, iova, dir, ssid?, priv?, exec?,
  observed?}, mem_read {addr, len, observed_hex?}, save_restore {into}, reset. Numbers are decimal or "0x…" strings,
  each within its field's width. A recorded vector (it has qemu_version) is replayed as recorded: the ID registers
  that QEMU release advertised for its smmu_stage, 4 GiB of RAM, privileged DMA. Each DMA is one transaction: the
  walk as probe() sees it (stage, level, table, descriptor, decision), then the real translation and any events it
  raised. Each recorded observation is compared with this model's.
  --json                   one JSON document: the device, one object per step, the totals
  --allow-deviations F     accept the differences F documents (JSON or YAML), e.g. a recorded folder's
                           deviations.json: "steps" [{reason, ours: {scenario: {step: observation}}}], "records"
                           [{field, events?, when?, recorded, ours, reason}] for event records, "stale_translations"
                           {reason}; each accepted step names its deviation, the last line lists those applied
  --html out.html          also write the explorer's page of the run (one self-contained file)

exit status:
  0  done (trace: every recorded observation as recorded, or a documented deviation)
  1  decode: a log held no record it could decode; trace: an observation differs from the recording, undocumented
  2  usage error or bad input (one line on stderr saying what and where)
  3  internal error (a bug in smmuv3)`;

const COMMANDS = ["decode", "trace", "state"];

const denoIo: CliIo = {
  out: (text) => void Deno.stdout.writeSync(new TextEncoder().encode(text)),
  err: (line) => console.error(line),
  readStdin: () => new Response(Deno.stdin.readable).text(),
  readFile: (path) => Deno.readTextFile(path),
  readBytes: (path) => Deno.readFile(path),
  writeFile: (path, text) => Deno.writeTextFile(path, text),
};

/** Runs the command line `args`; returns the exit status. Errors go to `io.err` as one line, never a stack trace. */
export async function main(args: readonly string[], io: CliIo = denoIo): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (args.includes("--help") || args.includes("-h") || command === "help") {
      io.out(HELP + "\n");
      return 0;
    }
    if (command === "--version" || command === "-V") {
      io.out(`smmuv3 ${VERSION}\n`);
      return 0;
    }
    switch (command) {
      case "decode":
        return await decodeCommand(rest, io);
      case "trace":
        return await traceCommand(rest, io);
      case "state":
        return await stateCommand(rest, io);
      case undefined:
        io.err(`smmuv3: missing command (${oneOf(COMMANDS)}); try --help`);
        return 2;
      default:
        io.err(`smmuv3: unknown command "${command}" (${oneOf([...COMMANDS, "--version", "--help"])}) at argument 1`);
        return 2;
    }
  } catch (e) {
    if (e instanceof InputError) {
      io.err(`smmuv3 ${command}: ${e.message}`);
      return 2;
    }
    io.err(`smmuv3 ${command}: internal error (a bug): ${e instanceof Error ? e.message : String(e)}`);
    return 3;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
