/**
 * The `smmuv3` command line. `deno task cli decode ste 0x…` or `deno run jsr:@iommu/smmuv3/cli --help`.
 * @module
 */
import { type CliIo, decodeCommand } from "./src/cli/decode.ts";
import { InputError } from "./src/cli/hex.ts";
import { type ReadBytes, stateCommand } from "./src/cli/state.ts";
import { traceCommand } from "./src/cli/trace.ts";

export type { CliIo, ReadBytes };

const HELP = `smmuv3: tools for Arm SMMUv3 (IHI 0070) structures

usage:
  smmuv3 decode <kind> [options] <hex…>     decode hex given as arguments
  smmuv3 decode <kind> [options] -          … read from stdin
  smmuv3 decode <kind> [options] --file F   … read from a file
  smmuv3 trace <scenario.json|.yaml>        run a scenario; print each DMA's table walk, result and events
  smmuv3 trace --html out.html <scenario>   … and write the explorer's page of it (one self-contained file)
  smmuv3 state <blob>                       print a saved-state blob (Smmu.save()) as JSON

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
  A Linux arm-smmu-v3 log is recognised by its "event 0xNN received:" (or "skipping command in error state:")
  header; the 0x%016llx lines after it are the record, and any other lines (decoded summaries) are skipped.
  Several records (or log blocks) in a row are decoded one after another.

options:
  --json                 machine-readable output
  --width auto|32|64     force every token to be one word of that width (default auto)
  --bytes                read the hex as bytes in memory order (little-endian), as xxd -p prints them
  --stage 1|2            pte: the stage of the walk (default 1)
  --level 0|1|2|3        pte: the level the descriptor was read at (default 3)
  --granule 4k|16k|64k   pte: the translation granule (default 4k)

trace scenarios:
  The steps of the recorded vectors (tests/vectors/qemu-7.2, format in its README): comment, mem_write {addr, hex},
  mmio_write {offset, size, value}, mmio_read {offset, size, observed?}, dma {sid, iova, dir, ssid?, priv?, exec?,
  observed?}, mem_read {addr, len, observed_hex?}. Numbers are decimal or "0x…" strings. Optional top-level
  id_registers {IDR0, IDR1, IDR3, IDR5} and memory_size. A recorded vector (it has qemu_version) is replayed as
  recorded: the recording's ID registers, 4 GiB of RAM, privileged DMA. Each DMA is one transaction: the walk as
  probe() sees it (stage, level, table, descriptor, decision), then the real translation and any events it raised.

decode output: one line per field (name, bits, value, meaning, description), the reserved bits that are set, notes.
exit status: 0 done, 2 usage error or bad input (one line on stderr saying what and where).`;

const denoIo: CliIo = {
  out: (text) => void Deno.stdout.writeSync(new TextEncoder().encode(text)),
  readStdin: () => new Response(Deno.stdin.readable).text(),
  readFile: (path) => Deno.readTextFile(path),
};

/** Runs the command line `args`; returns the exit status. Errors go to `err` as one line, never a stack trace. */
export async function main(
  args: readonly string[],
  io: CliIo = denoIo,
  err: (line: string) => void = console.error,
  readBytes: ReadBytes = Deno.readFile,
): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (args.includes("--help") || args.includes("-h") || command === "help") {
      io.out(HELP + "\n");
      return 0;
    }
    switch (command) {
      case "decode":
        return await decodeCommand(rest, io);
      case "trace":
        return await traceCommand(rest, io);
      case "state":
        return await stateCommand(rest, io.out, readBytes);
      case undefined:
        err("smmuv3: missing command (decode, trace, state); try --help");
        return 2;
      default:
        err(`smmuv3: unknown command "${command}" at argument 1; try --help`);
        return 2;
    }
  } catch (e) {
    if (e instanceof InputError) {
      err(`smmuv3 ${command}: ${e.message}`);
      return 2;
    }
    err(`smmuv3 ${command}: internal error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
