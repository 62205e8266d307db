/**
 * The words of the structures a fuzz action describes: STEs, CDs, commands, leaf attributes and table descriptors,
 * built through gen/ accessors from an action and the places the compiler resolved for it.
 * @module
 */
import {
  CD,
  CMD_SYNC,
  COMMANDS,
  STE,
  STE_CONFIG,
  TT_ADDR_64K,
  TT_AP,
  TT_S2AP,
  TT_TABLE,
  TT_TYPE,
} from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import type { PageTable, Values } from "../../src/guest/tables.ts";
import { CONFIGS, KIB64, S2TG, STRW, TG0, TG1 } from "./layout.ts";
import type { CdAction, Cmd, LeafParams, SpaceParams, SteAction } from "./program.ts";

/** One translation regime's tables as the guest built them. */
export interface Space {
  readonly params: SpaceParams;
  readonly gs: number;
  readonly inputBits: number;
  readonly startLevel: number;
  readonly sl0: number;
  readonly table: PageTable;
}

/** A field's value for address `a`: its bits of `a` (two's complement for negative addresses), as set() takes. */
export function addressValue(f: Field, a: number): number {
  const width = 2 ** f.width;
  let v = Math.floor(a / 2 ** (f.shift ?? 0));
  if (v < 0) v += width;
  return v - Math.floor(v / width) * width;
}

/** Sets every field of `fields` but those `special` handles from `vals` (cycled), in field order. */
export function fill(
  w: Uint32Array,
  fields: readonly Field[],
  vals: readonly number[],
  special: (f: Field) => number | null,
): void {
  fields.forEach((f, k) => {
    const v = special(f) ?? (vals.length === 0 ? 0 : vals[k % vals.length]);
    f.set(w, v);
  });
}

/** Flips bits (numbered across the words) of a structure. */
export function flip(w: Uint32Array, bits: readonly number[]): void {
  for (const b of bits) w[(b >>> 5) % w.length] ^= 1 << (b & 31);
}

const bit = (b: boolean) => (b ? 1 : 0);

/** An STE: `cd` is where S1ContextPtr points and its table format, `s2` the stage-2 space (when the config has them). */
export function steWords(a: SteAction, cd: { ptr: number; fmt: number }, s2: Space): Uint32Array {
  const w = new Uint32Array(16);
  STE.V.set(w, bit(a.valid));
  const config = CONFIGS[a.config % CONFIGS.length];
  STE.Config.set(w, config);
  if (config === STE_CONFIG.S1_TRANS || config === STE_CONFIG.NESTED) {
    STE.S1ContextPtr.setAddress(w, cd.ptr);
    STE.S1Fmt.set(w, (cd.fmt + a.fmtSkew) % 4);
    STE.S1CDMax.set(w, cd.fmt !== 0 && a.cdMax === 0 ? 1 : a.cdMax); // a 2-level table holds more than one CD
    STE.S1DSS.set(w, a.dss);
    STE.STRW.set(w, STRW[a.strw % 4]);
  }
  if (config === STE_CONFIG.S2_TRANS || config === STE_CONFIG.NESTED) {
    STE.S2T0SZ.set(w, 64 - s2.inputBits + a.t0szSkew);
    STE.S2SL0.set(w, s2.sl0);
    STE.S2TG.set(w, S2TG[s2.gs]);
    STE.S2PS.set(w, a.ps);
    STE.S2AA64.set(w, 1);
    STE.S2TTB.setAddress(w, s2.table.root);
    STE.S2VMID.set(w, a.vmid);
    STE.S2HA.set(w, bit(a.ha));
    STE.S2HD.set(w, bit(a.hd));
    STE.S2AFFD.set(w, bit(a.affd));
    STE.S2R.set(w, bit(a.record));
    STE.S2S.set(w, bit(a.stall === true));
  }
  STE.EATS.set(w, a.eats ?? 0);
  STE.PRIVCFG.set(w, a.privcfg);
  STE.INSTCFG.set(w, a.instcfg);
  flip(w, a.flips);
  return w;
}

/** A CD whose TTB0 and TTB1 ranges walk the given spaces (null: that range's walks disabled, EPDx). */
export function cdWords(a: CdAction, ttb0: Space | null, ttb1: Space | null): Uint32Array {
  const w = new Uint32Array(16);
  CD.V.set(w, bit(a.valid));
  CD.AA64.set(w, 1);
  CD.A.set(w, 1);
  CD.R.set(w, bit(a.record));
  CD.S.set(w, bit(a.stall === true));
  CD.ASID.set(w, a.asid);
  CD.IPS.set(w, a.ips);
  CD.HA.set(w, bit(a.ha));
  CD.HD.set(w, bit(a.hd));
  CD.AFFD.set(w, bit(a.affd));
  CD.TBI0.set(w, a.tbi & 1);
  CD.TBI1.set(w, a.tbi >> 1);
  CD.PAN.set(w, bit(a.pan));
  CD.WXN.set(w, bit(a.wxn));
  CD.E0PD0.set(w, a.e0pd & 1);
  CD.E0PD1.set(w, a.e0pd >> 1);
  CD.HAD0.set(w, a.had & 1);
  CD.HAD1.set(w, a.had >> 1);
  if (ttb0 === null) CD.EPD0.set(w, 1);
  else {
    CD.T0SZ.set(w, 64 - ttb0.inputBits + a.tszSkew);
    CD.TG0.set(w, TG0[ttb0.gs]);
    CD.TTB0.setAddress(w, ttb0.table.root);
  }
  if (ttb1 === null) CD.EPD1.set(w, 1);
  else {
    CD.T1SZ.set(w, 64 - ttb1.inputBits);
    CD.TG1.set(w, TG1[ttb1.gs]);
    CD.TTB1.setAddress(w, ttb1.table.root);
  }
  flip(w, a.flips);
  return w;
}

/** What the compiler resolved for a generated command: its StreamID, SubstreamID, MSI address and address. */
export interface CommandPlaces {
  sid: number;
  ssid: number;
  msi: number;
  addr: number;
}

/** A generated command: pool values for StreamID, SubstreamID and addresses, its values for the other fields. */
export function commandWords(c: Cmd, at: CommandPlaces): Uint32Array {
  const w = new Uint32Array(4);
  const layout = COMMANDS.get(c.op);
  if (layout !== undefined) {
    fill(w, layout.fields, c.vals, (f) => {
      switch (f.name) {
        case "Opcode":
          return c.op;
        case "StreamID":
          return at.sid;
        case "SubstreamID":
          return at.ssid;
        case "MSIAddress":
          return addressValue(f, at.msi);
        case "Address":
          return addressValue(f, at.addr);
      }
      return null;
    });
  } else CMD_SYNC.Opcode.set(w, c.op); // an opcode the architecture does not define
  flip(w, c.flips);
  return w;
}

/** A command of opcode `op` with the fields `named` gives, and `addr` in its Address field if it has one. */
export function namedCommand(op: number, named: Readonly<Record<string, number>>, addr: number): Uint32Array {
  const w = new Uint32Array(4);
  CMD_SYNC.Opcode.set(w, op);
  for (const f of COMMANDS.get(op)!.fields) {
    if (f.name === "Address") f.set(w, addressValue(f, addr));
    else if (f.name !== "Opcode" && f.name in named) f.set(w, named[f.name]);
  }
  return w;
}

/** A mapping's leaf fields and the attributes of the table descriptors created on the way (stage 1 or 2). */
export function leafValues(l: LeafParams, stage1: boolean): { leaf: Values; table: Values } {
  const leaf: Values = { AF: bit(l.af), DBM: bit(l.dbm), Contiguous: bit(l.contiguous) };
  const table: Values = {};
  // DBM marks a writable-clean page: read-only until the first write makes it dirty (unless perm says otherwise).
  const perm = l.perm >= 0 ? l.perm : l.dbm ? (stage1 ? TT_AP.RO_ANY : TT_S2AP.RO) : -1;
  if (stage1) {
    if (perm >= 0) leaf.AP = perm;
    leaf.UXN = l.xn & 1;
    leaf.PXN = l.xn >> 1;
    leaf.nG = bit(l.ng);
    table.APTable = l.table & 3;
    table.PXNTable = (l.table >> 2) & 1;
    table.UXNTable = l.table >> 3;
  } else {
    if (perm >= 0) leaf.S2AP = perm;
    leaf.XN = l.xn;
  }
  return { leaf, table };
}

/** A valid table descriptor pointing at `target` (aligned down to the granule), in the format of granule `gs`. */
export function tableDescriptor(gs: number, target: number): Uint32Array {
  const d = new Uint32Array(2);
  TT_TABLE.Valid.set(d, 1);
  TT_TABLE.Type.set(d, TT_TYPE.TABLE_OR_PAGE);
  if (gs === 16) {
    TT_ADDR_64K.ADDR.setAddress(d, target - (target % KIB64));
    TT_ADDR_64K.ADDR_51_48.setAddress(d, target);
  } else TT_TABLE.NLTA.setAddress(d, target - (target % 4096));
  return d;
}
