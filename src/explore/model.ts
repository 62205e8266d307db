/**
 * The explorer's view model: everything the page shows, as plain JSON. The server and the static export build it
 * (src/explore/record.ts); the page's script (src/explore/client/) only draws it. Addresses and values are hex strings.
 * @module
 */

/** The format tag of a model, so a page can refuse one it does not understand. */
export const MODEL_FORMAT = "smmuv3-explore/1";

/** One field of a decoded record; its description is in {@link ExploreModel.layouts}. */
export interface FieldView {
  name: string;
  /** "[msb:lsb]" or "[bit]". */
  bits: string;
  /** Hex. */
  value: string;
  /** Enum name, "address 0x…", or "". */
  meaning: string;
}

/** A record decoded by the generated spec: an STE, CD, descriptor, command, event or register value. */
export interface RecordView {
  /** Layout name (a key of {@link ExploreModel.layouts}). */
  layout: string;
  /** 64-bit words as hex, word 0 first (one 32-bit word for a 32-bit register). */
  words: string[];
  fields: FieldView[];
  /** Reserved bits that are set, as "[msb:lsb]". */
  reserved: string[];
  notes: string[];
}

/** A layout's descriptions, once per model. */
export interface LayoutView {
  description: string;
  /** Field name → description. */
  fields: Record<string, string>;
}

/** How a node of a walk reads: a step that passed, a fault, something the caches answered, or neutral. */
export type Tone = "ok" | "fault" | "cached" | "info";

/** One box of a walk picture. */
export interface WalkNode {
  /** Unique within its walk. */
  id: string;
  /** Grid position: row from the top, column from the left (the last column is stage 1's, or the only one). */
  row: number;
  col: number;
  /** What the box stands for. */
  kind: "config" | "descriptor" | "tlb" | "output" | "fault";
  /** "STE", "CD", "S1 L2", "S2 L1", "PA", the fault's name… */
  title: string;
  /** Where it was read (a PA), or "". */
  address: string;
  /** The IPA it was read at, when stage 2 translated it; else "". */
  ipa: string;
  /** The raw value (a descriptor's 64 bits, a structure's first words), or "". */
  raw: string;
  /** What the walker decided here, in words. */
  decision: string;
  tone: Tone;
  /** The value decoded field by field, when there is one. */
  record?: RecordView;
}

/** An arrow between two nodes. */
export interface WalkEdge {
  from: string;
  to: string;
}

/** A walk as a grid: one column for a single-stage walk; for a nested walk, the stage-2 levels and then stage 1. */
export interface WalkView {
  nested: boolean;
  /** A label per row (what the row's stage-2 walk translates, in a nested walk). */
  rows: string[];
  /** A label per column. */
  cols: string[];
  nodes: WalkNode[];
  edges: WalkEdge[];
}

/** A transaction and how it was translated. */
export interface DmaView {
  sid: number;
  /** SubstreamID, or null for none. */
  ssid: number | null;
  /** "read" or "write", with "privileged", "instruction" where they apply. */
  access: string;
  /** Input address (hex, 64-bit). */
  iova: string;
  /** "pa 0x…" or "fault F_…" / "fault ABORT". */
  result: string;
  ok: boolean;
  /** What the recording says, when it says ("pa 0x…" or "fault"), and whether this model agrees. */
  recorded?: string;
  matches?: boolean;
  /** The walk as the device did it (a TLB hit shows the cached entry). */
  walk: WalkView;
  /** On a TLB hit: a walk of the tables as they are now, and whether it gives the same answer. */
  tablesNow?: { walk: WalkView; result: string; same: boolean };
}

/** An event record the device wrote. */
export interface EventView {
  /** Position in the model's event list. */
  index: number;
  /** Timeline index of the step where it arose. */
  step: number;
  /** One line: type and non-zero fields. */
  summary: string;
  record: RecordView;
}

/** A register's value at some point. */
export interface RegisterValue {
  value: string;
  record: RecordView;
}

/** One TLB entry. */
export interface TlbEntryView {
  iova: string;
  size: string;
  pa: string;
  /** IPA when stage 2 applies, else "". */
  ipa: string;
  /** Allowed accesses in words, e.g. "priv rwx, user rw". */
  perms: string;
  global: boolean;
}

/** One cached context: a (StreamID, SubstreamID) pair. */
export interface ContextView {
  sid: string;
  ssid: string;
  kind: string;
  asid: string;
  vmid: string;
  ste: string;
  cd: string;
  walkEntries: number;
  entries: TlbEntryView[];
}

/** What the configuration cache and TLBs hold. */
export interface CacheView {
  streams: { sid: string; ste: string }[];
  contexts: ContextView[];
}

/** What a step of the timeline is. */
export type StepKind =
  | "comment"
  | "mem_write"
  | "mem_read"
  | "mmio_write"
  | "mmio_read"
  | "dma"
  | "save_restore"
  | "reset"
  | "restore"
  | "log_event"
  | "probe";

/** One step of the timeline and the device after it. */
export interface StepView {
  /** Timeline index. */
  index: number;
  /** Where it comes from: "step 41", "log line 12", "probe". */
  source: string;
  kind: StepKind;
  /** One line. */
  title: string;
  /** "differs": an observation disagrees with the recording; "error": the step could not run. */
  status: "ok" | "fault" | "differs" | "error" | "info";
  /** More lines (what was read or written, what the recording said). */
  lines: string[];
  /** The register written or read, decoded. */
  register?: { name: string; record: RecordView };
  /** Commands the step made the device consume, decoded. */
  commands: RecordView[];
  dma?: DmaView;
  /** An event record given as input (a Linux log), decoded. */
  logged?: RecordView;
  /** Indices into {@link ExploreModel.events} of the records written during the step. */
  events: number[];
  /** Registers whose value changed during the step. */
  registers: Record<string, RegisterValue>;
  /** The caches after the step, when they changed (else as at the last step that has them). */
  caches?: CacheView;
}

/** Everything the page shows. */
export interface ExploreModel {
  format: typeof MODEL_FORMAT;
  title: string;
  description: string;
  /** What was loaded: a file name, "saved state + memory", … */
  source: string;
  /** The device: its ID registers. */
  device: string;
  /** Registers in frame order: name, offset (hex). */
  registers: { name: string; offset: string }[];
  /** Every register's value before the first step. */
  initial: Record<string, RegisterValue>;
  /** The caches before the first step. */
  caches: CacheView;
  steps: StepView[];
  events: EventView[];
  /** Layout descriptions by name, for every record in the model. */
  layouts: Record<string, LayoutView>;
  /** Problems met while loading (a step that could not run, a log block not understood). */
  warnings: string[];
}
