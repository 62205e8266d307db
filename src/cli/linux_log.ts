/**
 * Linux arm-smmu-v3 logs: the records the driver printed (event records, and the command it skipped on a CMDQ error),
 * found in a kernel log however it was captured, with what the log says around them (time, SMMU, client device).
 *
 * What the driver (drivers/iommu/arm/arm-smmu-v3) prints:
 * - 4.x to 6.14: "event 0x%02x received:" (dev_info), then one "\t0x%016llx" line per 64-bit word of the record;
 * - 6.15 on (arm_smmu_dump_event): the same at dev_err, then "event: %s client: %s sid: %#x ssid: %#x …" and a line of
 *   the access's attributes;
 * - on a CMDQ error: "CMDQ error (cons 0x%08x): %s", "skipping command in error state:", then the command's words.
 * dev_printk puts "<driver> <device>: " before each message; captures add more in front: dmesg's "[  123.456789] "
 * (-T: "[Tue Mar  4 10:12:33 2025] "), journalctl's "Mar 04 10:12:33 host kernel: ", syslog's "<6>", printk caller ids
 * "[  T123]", /dev/kmsg's "6,1234,123456789,-;" (with tabs escaped as \x09 and " KEY=value" lines after each record),
 * dmesg --color=always's ANSI colours, CRLF line ends. Lines of other devices may fall between a block's lines.
 * @module
 */
import { putDword } from "./hex.ts";

/** What a block holds: an event record, or the command a CMDQ error skipped. */
export type RecordKind = "event" | "cmd";

/** One record the driver printed, and where. */
export interface LogRecord {
  kind: RecordKind;
  /** The event number the header announced (events only). */
  id?: number;
  /** 1-based line of the header. */
  line: number;
  /** The record, low 32-bit word first. */
  words: Uint32Array;
  /** The header's timestamp as the log prints it. */
  time?: string;
  /** The driver and the SMMU instance (dev_name) the lines came from. */
  driver?: string;
  device?: string;
  /** 6.15 on: the device the driver blamed ("client: …"). */
  client?: string;
  /** The line that explains the block (a CMDQ error's reason). */
  context?: string;
}

/** A block that gave no record: its header's line and why. */
export interface LogProblem {
  line: number;
  what: string;
}

/** What a log holds. */
export interface LinuxLog {
  records: LogRecord[];
  problems: LogProblem[];
}

// deno-lint-ignore no-control-regex -- dmesg --color=always writes ESC [ … m sequences
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;
/** /dev/kmsg: "<priority>,<sequence>,<microseconds>,<flags>[,…];<message>", then " KEY=value" dictionary lines. */
const KMSG = /^\d+,\d+,(\d+),[^;]*;(.*)$/;
const KMSG_DICTIONARY = /^ [A-Za-z_]+=/;
const EVENT_HEADER = /\bevent 0x([0-9a-f]{1,2}) received:$/i;
const CMD_HEADER = /\bskipping command in error state:$/i;
const WORD = /^(.*?)\s*0x([0-9a-f]{16})$/i;
const SUMMARY = /\bevent: \S+ client: (.+?) sid: 0x[0-9a-f]+ ssid: 0x[0-9a-f]+/i;
const CMDQ_ERROR = /\b(CMDQ error \(cons 0x[0-9a-f]+\): .*)$/;
/** Timestamps, the kernel's own first: dmesg and kern.log, dmesg -T, ISO (dmesg --time-format iso), journalctl. */
const TIMES = [
  /\[\s*(\d+\.\d+)\]/,
  /\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\]/,
  /^(?:<\d+>)?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s/,
  /^(?:<\d+>)?([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?)\s/,
];
/** dev_printk's "<driver> <device>:" at the end of the text before a message. */
const SOURCE = /(?:([^\s\])>]+) )?([^\s\])>]+):\s*$/;

/** A block being read: its record so far. */
interface OpenBlock {
  record: LogRecord;
  filled: number;
  want: number;
}

/**
 * Finds the driver's blocks in `text`; `undefined` when there is no header line (then the text is not a log).
 * `dwords` is the size of each kind of record in 64-bit words.
 */
export function parseLinuxLog(text: string, dwords: Record<RecordKind, number>): LinuxLog | undefined {
  const records: LogRecord[] = [];
  const problems: LogProblem[] = [];
  // Keyed by the lines' source ("<driver> <device>"), so that two SMMUs' blocks may interleave.
  const open = new Map<string, OpenBlock>();
  const latest = new Map<string, LogRecord>(); // the source's last complete record, for its 6.15 summary line
  const cmdqErrors = new Map<string, string>(); // a CMDQ error line, for the block that follows it
  const cutShort = (b: OpenBlock, why: string) =>
    problems.push({
      line: b.record.line,
      what: `${b.record.kind === "event" ? "event" : "command"} block cut short after ${b.filled} of ${b.want} ` +
        `64-bit words (${why})`,
    });
  let headers = 0;
  text.split("\n").forEach((raw, index) => {
    const line = readLine(raw);
    if (line === undefined) return;
    const n = index + 1;
    const event = EVENT_HEADER.exec(line.text);
    const header = event ?? CMD_HEADER.exec(line.text);
    if (header) {
      headers++;
      const prefix = line.text.slice(0, header.index);
      const { key, driver, device } = sourceOf(prefix);
      const before = open.get(key);
      if (before) cutShort(before, `a new block starts at line ${n}`);
      latest.delete(key);
      const kind: RecordKind = event ? "event" : "cmd";
      const record: LogRecord = { kind, line: n, words: new Uint32Array(2 * dwords[kind]), driver, device };
      if (event) record.id = parseInt(event[1], 16);
      record.time = line.time ?? timeOf(prefix);
      if (!event && cmdqErrors.has(key)) record.context = cmdqErrors.get(key);
      cmdqErrors.delete(key);
      open.set(key, { record, filled: 0, want: dwords[kind] });
      return;
    }
    const word = WORD.exec(line.text);
    if (word && /(^|:)$/.test(word[1].trimEnd())) {
      const { key } = sourceOf(word[1]);
      const block = open.get(key);
      if (!block) return; // a word of no block we read (another SMMU's lost header)
      putDword(block.record.words, block.filled++, word[2]);
      if (block.filled === block.want) {
        records.push(block.record);
        latest.set(key, block.record);
        open.delete(key);
      }
      return;
    }
    const summary = SUMMARY.exec(line.text);
    if (summary) {
      const record = latest.get(sourceOf(line.text.slice(0, summary.index)).key);
      if (record?.kind === "event" && record.client === undefined) record.client = summary[1];
      return;
    }
    const cmdq = CMDQ_ERROR.exec(line.text);
    if (cmdq) cmdqErrors.set(sourceOf(line.text.slice(0, cmdq.index)).key, cmdq[1]);
    // Any other line (another driver's, a decoded summary's second line) is not part of a block.
  });
  for (const block of open.values()) cutShort(block, "the log ends");
  if (headers === 0) return undefined;
  records.sort((a, b) => a.line - b.line);
  problems.sort((a, b) => a.line - b.line);
  return { records, problems };
}

/** A line as the kernel printed it: capture artefacts (colour, CR, /dev/kmsg framing) removed; its kmsg time. */
function readLine(raw: string): { text: string; time?: string } | undefined {
  const text = raw.replace(ANSI, "").trimEnd();
  if (KMSG_DICTIONARY.test(text)) return undefined;
  const kmsg = KMSG.exec(text);
  if (!kmsg) return { text };
  const micros = kmsg[1].padStart(7, "0");
  const unescaped = kmsg[2].replace(/\\x([0-9a-f]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
  return { text: unescaped.trimEnd(), time: `${micros.slice(0, -6)}.${micros.slice(-6)}` };
}

function timeOf(prefix: string): string | undefined {
  for (const re of TIMES) {
    const m = re.exec(prefix);
    if (m) return m[1];
  }
  return undefined;
}

/** Who printed a line, from the text before its message: dev_printk's driver and device names. */
function sourceOf(prefix: string): { key: string; driver?: string; device?: string } {
  const m = SOURCE.exec(prefix);
  // journalctl's "host kernel:" is not a device
  if (!m || m[2] === "kernel") return { key: "" };
  return { key: `${m[1] ?? ""} ${m[2]}`, driver: m[1], device: m[2] };
}
