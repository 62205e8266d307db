/**
 * One home for every fact (issue 15): the handwritten device, engine, registers, state and guest code writes no
 * architectural size, encoding or bit position; those come from gen/ (registers.yaml). This test reads the code of
 * those folders (comments and string text left out) and fails on every numeric literal other than 0 and 1, and on
 * every shift by a literal, unless the allow-list below names it with the reason it is not architectural (hash
 * constants, private packing, the model's own defaults, the number representation). A power of two written `2 ** x`
 * and a radix (`toString(16)`) pass: what they say is in `x`, or is formatting. An entry nothing matches any longer
 * fails too, so the list stays the truth.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const FOLDERS = ["src/translation", "src/device", "src/registers", "src/state", "src/guest"];

/** Why a literal may stay, by file and literal text. */
const ALLOWED: Record<string, Record<string, string>> = {
  "src/translation/translate.ts": {
    "3": "UNKNOWN = -3: a private sentinel of #slow, beside NONE and DENIED",
  },
  "src/translation/walk.ts": {
    "2": "translation stage numbers (Regime.stage 1 | 2)",
  },
  "src/translation/regime.ts": {
    "2": "translation stage numbers (Regime.stage 1 | 2)",
  },
  "src/translation/permissions.ts": {
    "2": "S1_AT, S2_AT: where the permission indexes pack their inputs (private packing)",
    "3": "S1_AT: private packing of the stage-1 permission index",
    "4": "S1_AT, S2_AT: private packing of the permission indexes",
    "5": "S2_AT: private packing of the stage-2 permission index",
    "6": "S1_AT, S2_INDEX_BITS: private packing of the permission indexes",
    "7": "S1_AT: private packing of the stage-1 permission index",
    "8": "S1_AT: private packing of the stage-1 permission index",
    "9": "S1_AT: private packing of the stage-1 permission index",
    "10": "S1_AT: private packing of the stage-1 permission index",
    "11": "S1_AT: private packing of the stage-1 permission index",
    "12": "S1_INDEX_BITS: the stage-1 permission index's width",
  },
  "src/translation/config.ts": {
    "2": "Regime.stage 2",
  },
  "src/translation/config_types.ts": {
    "2": "WORLD (a private enumeration)",
  },
  "src/translation/tlb_context.ts": {
    "2": "KIND, CLASS: private enumerations; two SubstreamID keys per value (NO_SSID's included)",
    "3": "CLASS: a private enumeration",
    "4": "NESTED: a private tag class",
  },
  "src/translation/tlb.ts": {
    "65536": "the default cache bounds (CacheLimits): a model choice",
    "16": "the smallest TLB bound: room for one context's pages (a model choice)",
    "64": "the smallest walk cache (a model choice)",
    "4": "the walk cache is a quarter of the TLB's bound (a model choice)",
    "8": "eviction: tries, and an eighth of a full cache evicted at once (model choices)",
  },
  "src/translation/walk_cache.ts": {
    "8": "MEMO: entries of a walk-cache view's lookup memo (a model choice)",
  },
  "src/translation/tlb_pages.ts": {
    "2": "DENIED = -2 (a private sentinel), row fields OUT and B_PREV, flag GLOBAL, two int32s a double, doubling",
    "3": "row fields ALLOW and B_NEXT",
    "4": "a row's links are four numbers; flag IN_BLOCK",
    "0x27d4eb2d": "hash constant",
    "8": "SECOND_CHANCES: a model choice",
    "16": "the smallest owner table",
    "64": "MIN_ROWS: the smallest row table; ROW_BYTES: a row is one 64-byte line (private layout)",
    "28": "SPACE: key spaces packed in the key's top bits (private)",
    "29": "SPACE: key spaces packed in the key's top bits (private)",
    "30": "SPACE: key spaces packed in the key's top bits (private)",
    "0x9e3779b1": "hash constant (golden ratio)",
    "0x85ebca6b": "hash constant (murmur3 finalizer)",
    "0x2545f491": "xorshift seed",
    "13": "xorshift32 shift",
    "17": "xorshift32 shift",
    "5": "xorshift32 shift",
  },
  "src/registers/regfile.ts": {
    "4": "AccessSize spells the sizes for the public API; a type check beside it ties them to gen/'s WORD_BYTES",
    "8": "AccessSize spells the sizes for the public API; a type check beside it ties them to gen/'s DWORD_BYTES",
  },
  "src/device/commands.ts": {
    "1024": "COMMAND_BUDGET: the default batch of a host with a continuation (a model choice)",
  },
  "src/device/options.ts": {
    "16": "the smallest TLB bound accepted (a model choice, as tlb.ts)",
  },
  "src/device/stall.ts": {
    "2": "TERMINATE: a private action code",
  },
  "src/registers/features.ts": {
    "4": "SmmuFeatures.granules' type: the documented KiB values (checked against GRANULE_BY_KIB)",
    "16": "SmmuFeatures.granules' type; DEFAULT_SID_BITS (a model default)",
    "64": "SmmuFeatures.granules' type",
    "32": "SmmuFeatures.oas' type: the documented values (checked against IDR5_OAS_BY_BITS)",
    "36": "SmmuFeatures.oas' type",
    "40": "SmmuFeatures.oas' type",
    "42": "SmmuFeatures.oas' type",
    "44": "SmmuFeatures.oas' type",
    "48": "SmmuFeatures.oas' type; DEFAULT_OAS_BITS (a model default)",
    "52": "SmmuFeatures.oas' type",
    "2": "SmmuFeatures.bbml's type (checked against IDR3_BBML); a scratch word index",
    "3": "a scratch word index",
    "8": "DEFAULT_SSID_BITS (a model default)",
    "256": "DEFAULT_STALL_MAX (a model default)",
  },
  "src/state/save_restore.ts": {
    "9": "a regular expression's class a-z0-9 (ts-proto's field names)",
    "2": "FIELD_ID_REGISTERS: the saved-state message's field number (proto/)",
    "3": "protobuf wire format: a tag is the field number << 3",
    "0x7f": "protobuf wire format: varint groups of seven bits",
    "0x80": "protobuf wire format: varint continuation bit",
    "128": "protobuf wire format: varint groups of seven bits",
  },
  "src/guest/tables.ts": {
    "0x4000_0000": "Allocator's default start: where the demos' guest RAM starts (no architectural address)",
    "2": "PageTable.map's stage 1 | 2",
  },
  "src/guest/driver.ts": {
    "0x4100_0000": "DEFAULT_LAYOUT: where the driver puts its stream table in guest RAM (a choice)",
    "0x4200_0000": "DEFAULT_LAYOUT: the command queue's place",
    "0x4210_0000": "DEFAULT_LAYOUT: the event queue's place",
    "0x4220_0000": "DEFAULT_LAYOUT: the PRI queue's place",
    "8": "DEFAULT_LAYOUT: queue and stream table sizes the driver asks for",
    "5": "DEFAULT_LAYOUT: queue sizes the driver asks for",
  },
};

/** The code of a TypeScript source: comments blanked, string and template text emptied (expressions kept). */
export function codeOf(text: string): string {
  let out = "";
  let i = 0, depth = 0;
  const templates: number[] = []; // brace depth at each open `${`
  while (i < text.length) {
    const c = text[i], d = text[i + 1];
    if (c === "/" && d === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && d === "*") {
      const end = text.indexOf("*/", i + 2) + 2;
      out += text.slice(i, end).replace(/[^\n]/g, " ");
      i = end;
    } else if (c === '"' || c === "'") {
      for (i++; i < text.length && text[i] !== c; i += text[i] === "\\" ? 2 : 1);
      i++;
      out += '""';
    } else if (c === "`" || (c === "}" && templates.at(-1) === depth)) {
      if (c === "}") templates.pop();
      for (i++; i < text.length && text[i] !== "`" && !(text[i] === "$" && text[i + 1] === "{"); i++) {
        if (text[i] === "\\") i++;
        else if (text[i] === "\n") out += "\n";
      }
      if (text[i] === "$") {
        templates.push(depth);
        i += 2;
      } else i++;
      out += '""';
    } else {
      if (c === "{") depth++;
      else if (c === "}") depth--;
      out += c;
      i++;
    }
  }
  return out;
}

const NUMBER =
  /(?<![\w$.])(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)(n?)(?![\w$])/g;

interface Hit {
  file: string;
  line: number;
  literal: string;
  text: string;
}

/** Numeric literals other than 0 and 1 (but powers of two and radixes), and shifts by a literal, in `code`. */
export function suspicious(file: string, code: string): Hit[] {
  const hits: Hit[] = [];
  code.split("\n").forEach((text, k) => {
    for (const m of text.matchAll(NUMBER)) {
      const value = Number(m[1].replaceAll("_", ""));
      const before = text.slice(0, m.index), after = text.slice(m.index! + m[0].length);
      if (value === 0 || (value === 1 && !/(<<|>>>?)\s*$/.test(before))) continue; // but a shift by one
      if (value === 2 && /^\s*\*\*/.test(after)) continue; // 2 ** x: the exponent is what it says
      if (value === 16 && /(toString|parseInt\([^,]*,)\s*\(?\s*$/.test(before)) continue; // a radix
      hits.push({ file, line: k + 1, literal: m[0], text: text.trim() });
    }
  });
  return hits;
}

async function scan(): Promise<Hit[]> {
  const hits: Hit[] = [];
  for (const folder of FOLDERS) {
    for await (const e of Deno.readDir(`${ROOT}${folder}`)) {
      if (!e.isFile || !e.name.endsWith(".ts")) continue;
      const file = `${folder}/${e.name}`;
      hits.push(...suspicious(file, codeOf(await Deno.readTextFile(`${ROOT}${file}`))));
    }
  }
  return hits;
}

Deno.test("no architectural literal in the device, engine, registers, state and guest code (issue 15)", async () => {
  const hits = await scan();
  const unexplained = hits.filter((h) => ALLOWED[h.file]?.[h.literal] === undefined)
    .map((h) => `${h.file}:${h.line}: ${h.literal}   in   ${h.text}`);
  assert.deepEqual(unexplained, [], "take these from gen/ (registers.yaml), or name why they are not architectural");
  const used = new Set(hits.map((h) => `${h.file} ${h.literal}`));
  const stale = Object.entries(ALLOWED).flatMap(([file, l]) => Object.keys(l).map((literal) => `${file} ${literal}`))
    .filter((k) => !used.has(k));
  assert.deepEqual(stale, [], "allow-list entries that match nothing any longer");
});

Deno.test("the literal scan sees literals in code and shifts, not in comments, strings or powers of two", () => {
  const code = codeOf(
    [
      "const a = 0x40; // 64 in a comment",
      'const b = "4096 in a string" + `${c * 8} in a template`;',
      "const d = x >> 1, e = 2 ** n, f = v.toString(16), g = y >>> 0;",
      "/* 12 */ const h = 12;",
    ].join("\n"),
  );
  assert.deepEqual(suspicious("f.ts", code).map((h) => [h.line, h.literal]), [[1, "0x40"], [2, "8"], [3, "1"], [
    4,
    "12",
  ]]);
});
