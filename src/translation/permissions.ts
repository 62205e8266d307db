/**
 * Leaf permissions as allow masks (DDI 0487 D8.4; IHI 0070 5.4 CD.PAN/WXN, 5.2 STE.S2 fields, 13.7.1 ATS grants): every
 * input of a stage-1 or stage-2 leaf's permissions packed into an index of a precomputed table, so the walker pays one
 * array read per leaf. An allow mask has bit `flags` set for each normalized ACCESS combination it permits.
 * @module
 */
import {
  TT_AP_DIRTY,
  TT_AP_EL0,
  TT_AP_WRITE,
  TT_APTABLE_EL0,
  TT_APTABLE_WRITE,
  TT_BLOCK_S1,
  TT_BLOCK_S2,
  TT_DESC_LAYOUT,
  TT_S2AP_DIRTY,
  TT_S2AP_READ,
  TT_S2AP_WRITE,
  TT_S2XN_EL0_EXEC,
  TT_S2XN_EL1_EXEC,
  TT_S2XN_WITHOUT_XNX,
  TT_TABLE,
} from "../../gen/mod.ts";
import { ACCESS, ACCESS_MASK } from "../core/types.ts";

/** What of a stage-1 regime its leaves' permissions depend on (a Regime has these). */
export interface S1PermissionRegime {
  readonly hierarchical: boolean;
  readonly el2: boolean;
  readonly wxn: boolean;
  readonly pan: boolean;
}

/**
 * Whether an allow mask grants an ATS request anything at the request's (effective) privilege (IHI 0070 13.7.1): W
 * where writable; R where readable, or where executable under STE.INSTCFG instruction (ACCESS.ATS_INSTR). Exe is never
 * granted without R, so an execute-only page asked for Exe grants nothing ("An execute-only (XO) translation grants
 * no access to ATS").
 */
export function atsGrantsAny(allow: number, flags: number): boolean {
  const p = flags & ACCESS.PRIV;
  const read = (allow >> (p | ((flags & ACCESS.ATS_INSTR) !== 0 ? ACCESS.EXEC : 0))) & 1;
  return read + ((allow >> (p | ACCESS.WRITE)) & 1) > 0;
}

/** Access flags as permission checks see them: a write is never an instruction fetch. */
export function normalize(flags: number): number {
  return (flags & ACCESS.WRITE) !== 0 ? flags & ~ACCESS.EXEC & ACCESS_MASK : flags & ACCESS_MASK;
}

/** The allow mask from per-privilege read/write/execute permissions: bit `flags` for each normalized access. */
function mask(userR: boolean, userW: boolean, userX: boolean, privR: boolean, privW: boolean, privX: boolean): number {
  const { WRITE, EXEC, PRIV } = ACCESS;
  return (+userR) | (+userW << WRITE) | (+userX << EXEC) | (+userW << (WRITE | EXEC)) | (+privR << PRIV) |
    (+privW << (PRIV | WRITE)) | (+privX << (PRIV | EXEC)) | (+privW << (PRIV | WRITE | EXEC));
}

/** Stage-1 permissions of a leaf (DDI 0487 D8.4: AP, APTable, UXN/PXN, WXN, PAN; IHI 0070 5.4 CD.PAN/WXN). */
function s1Allow(
  el2: boolean,
  wxn: boolean,
  pan: boolean,
  ap: number,
  uxnLeaf: boolean,
  pxnLeaf: boolean,
  apTable: number,
  pxnTable: boolean,
  uxnTable: boolean,
  asDirty: boolean,
): number {
  // Written dirty (DBM), AP[2] is cleared: the leaf permits writes.
  const readOnly = !TT_AP_WRITE[asDirty ? TT_AP_DIRTY[ap] : ap] || !TT_APTABLE_WRITE[apTable];
  const uxn = uxnLeaf || uxnTable;
  if (el2) {
    // One privilege level: AP[1] and PXN are ignored, UXN is XN (IHI 0070 5.4 UWXN/PAN notes).
    const w = !readOnly;
    const x = !uxn && !(wxn && w);
    return mask(true, w, x, true, w, x);
  }
  const userR = TT_AP_EL0[ap] && TT_APTABLE_EL0[apTable];
  const userW = userR && !readOnly;
  const privW = !readOnly;
  const userX = !uxn && !(wxn && userW);
  const privX = !(pxnLeaf || pxnTable || userW || (wxn && privW));
  const panBlocks = pan && userR;
  return mask(userR, userW, userX, !panBlocks, privW && !panBlocks, privX);
}

/** Stage-2 permissions of a leaf (DDI 0487 D8.4.4: S2AP, XN with or without FEAT_XNX). */
function s2Allow(xnx: boolean, s2ap: number, xn: number, asDirty: boolean): number {
  // Written dirty (DBM), S2AP[1] is set: the leaf permits writes.
  const ap = asDirty ? TT_S2AP_DIRTY[s2ap] : s2ap;
  const read = TT_S2AP_READ[ap], write = TT_S2AP_WRITE[ap];
  const x = xnx ? xn : TT_S2XN_WITHOUT_XNX[xn];
  return mask(read, write, TT_S2XN_EL0_EXEC[x], read, write, TT_S2XN_EL1_EXEC[x]);
}

// Permission tables: every input of s1Allow / s2Allow packed into an index (a private packing: where each input
// sits is this file's choice; a field's width is its descriptor field's), so a leaf's permissions cost one array read.
const S1_AT = { AP: 0, UXN: 2, PXN: 3, AP_TABLE: 4, PXN_TABLE: 6, UXN_TABLE: 7, AS_DIRTY: 8, EL2: 9, WXN: 10, PAN: 11 };
const S1_INDEX_BITS = 12;
const S2_AT = { AP: 0, XN: 2, AS_DIRTY: 4, XNX: 5 };
const S2_INDEX_BITS = 6;
/** The index bit that selects the permissions a DBM write would give (the entry written dirty). */
export const S1_AS_DIRTY = 1 << S1_AT.AS_DIRTY;
export const S2_AS_DIRTY = 1 << S2_AT.AS_DIRTY;
/** The `f`-wide value at S1_AT/S2_AT position `at` of index `i`. */
const part = (i: number, at: number, f: { width: number }) => (i >> at) & ((1 << f.width) - 1);
const flag = (i: number, at: number) => ((i >> at) & 1) === 1;
export const S1_ALLOW = Uint8Array.from({ length: 1 << S1_INDEX_BITS }, (_, i) =>
  s1Allow(
    flag(i, S1_AT.EL2),
    flag(i, S1_AT.WXN),
    flag(i, S1_AT.PAN),
    part(i, S1_AT.AP, TT_BLOCK_S1.AP),
    part(i, S1_AT.UXN, TT_BLOCK_S1.UXN) === 1,
    part(i, S1_AT.PXN, TT_BLOCK_S1.PXN) === 1,
    part(i, S1_AT.AP_TABLE, TT_TABLE.APTable),
    part(i, S1_AT.PXN_TABLE, TT_TABLE.PXNTable) === 1,
    part(i, S1_AT.UXN_TABLE, TT_TABLE.UXNTable) === 1,
    flag(i, S1_AT.AS_DIRTY),
  ));
export const S2_ALLOW = Uint8Array.from({ length: 1 << S2_INDEX_BITS }, (_, i) =>
  s2Allow(
    flag(i, S2_AT.XNX),
    part(i, S2_AT.AP, TT_BLOCK_S2.S2AP),
    part(i, S2_AT.XN, TT_BLOCK_S2.XN),
    flag(i, S2_AT.AS_DIRTY),
  ));

/** The table descriptors' attributes above a leaf, as a descriptor of them alone (APTable, PXNTable, UXNTable). */
const TABLE_ATTRS = new Uint32Array(TT_DESC_LAYOUT.words);

/** Index into S1_ALLOW of the leaf in `d` under the table descriptors' upper words `tableHi`, ORed. */
export function permissionIndexS1(r: S1PermissionRegime, d: Uint32Array, tableHi: number): number {
  const t = TABLE_ATTRS;
  t[1] = r.hierarchical ? tableHi : 0;
  const regime = (+r.el2 << S1_AT.EL2) | (+r.wxn << S1_AT.WXN) | (+r.pan << S1_AT.PAN);
  return regime | (TT_TABLE.APTable.get(t) << S1_AT.AP_TABLE) | (TT_TABLE.PXNTable.get(t) << S1_AT.PXN_TABLE) |
    (TT_TABLE.UXNTable.get(t) << S1_AT.UXN_TABLE) | (TT_BLOCK_S1.PXN.get(d) << S1_AT.PXN) |
    (TT_BLOCK_S1.UXN.get(d) << S1_AT.UXN) | (TT_BLOCK_S1.AP.get(d) << S1_AT.AP);
}

/** Index into S2_ALLOW of the leaf in `d`. */
export function permissionIndexS2(r: { readonly xnx: boolean }, d: Uint32Array): number {
  return (+r.xnx << S2_AT.XNX) | (TT_BLOCK_S2.XN.get(d) << S2_AT.XN) | (TT_BLOCK_S2.S2AP.get(d) << S2_AT.AP);
}
