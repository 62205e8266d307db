/**
 * Mutants: realistic bugs planted in a copy of the device, one at a time, that the fuzzer must catch. Each is a
 * one-line source change and the invariant that should report it; tests/fuzz/long.ts runs the fuzzer on every
 * mutant and fails if one survives. They show that the oracle can fail, and how fast it does.
 * @module
 */

/** One planted bug: `find` (which must occur exactly once in `file`) becomes `replace`. */
export interface Mutant {
  name: string;
  file: string;
  find: string;
  replace: string;
  /** What the oracle should say. */
  expect: RegExp;
  /** Cases it may survive, where the bug needs a rare combination (default: tests/fuzz/long.ts MUTANT_CASES). */
  cases?: number;
}

export const MUTANTS: readonly Mutant[] = [
  {
    name: "event queue overwrites unread records when full",
    file: "src/device/events.ts",
    find: "if (ring.full(prod, cons)) {",
    replace: "if (false) {",
    expect: /records into \d+ free slots|EVENTQ_PROD moved/,
  },
  {
    name: "command queue ignores the command budget",
    file: "src/device/commands.ts",
    find: "const limit = Math.min(this.#budget, ring.size);",
    replace: "const limit = 1e9;",
    expect: /commands in \d+ access/,
  },
  {
    name: "command queue runs an inconsistent (more than full) queue",
    file: "src/device/commands.ts",
    find: "return published >= 0;",
    replace: "return true;",
    expect: /commands of an inconsistent queue/,
  },
  {
    name: "a callback's queue write runs a second batch inside the running one",
    file: "src/device/commands.ts",
    find: "if (this.#running || !this.#load()) return;",
    replace: "if (!this.#load()) return;",
    // Caught as a command run twice, or as the outer CMD_SYNC's MSI sent with the nested batch's command words.
    expect: /commands run, CMDQ_CONS moved|not an event slot, MSI or flag update/,
  },
  {
    name: "interrupt sinks run at once, in the middle of the device's work",
    file: "src/device/irq.ts",
    find: "if (sink !== undefined) this.#calls.defer(sink, this.#sinksThis);",
    replace: "if (sink !== undefined) sink.call(this.#sinksThis);",
    // An event queue handler's DMA in the middle of a transaction overwrites the transaction's fault.
    expect: /where probe said|the event record says|records and \d+ lost/,
  },
  {
    name: "a global error raised again while active toggles it off",
    file: "src/device/irq.ts",
    find: "if (this.errorActive(f)) return;",
    replace: "",
    // Or by what follows: an EVENTQ_ABT_ERR or MSI_EVENTQ_ABT_ERR toggled off lets records and MSIs go where they
    // may not.
    expect:
      /GERROR toggled active error bits|active global error was deactivated|without EVENTQ_ABT_ERR|records written and no event queue MSI/,
  },
  {
    name: "hardware Access-flag update written to the next descriptor",
    file: "src/translation/walk.ts",
    find: "return this.#memory.write32(descAddr, d[0]) ||",
    replace: "return this.#memory.write32(descAddr + 8, d[0]) ||",
    expect: /not an event slot, MSI or flag update|descriptor at .* changed/,
  },
  {
    name: "DMA copies are not split at mapping boundaries",
    file: "src/device/dma.ts",
    find: "const n = Math.min(len - done, span);",
    replace: "const n = len - done;",
    expect: /DMA data at/,
  },
  {
    name: "event records carry the SubstreamID where the StreamID goes",
    file: "src/device/events.ts",
    find: "r.sid?.set(out, fault.sid >>> 0);",
    replace: "r.sid?.set(out, fault.ssid >>> 0);",
    expect: /the event record says/,
  },
  {
    name: "a fault that CD.R keeps quiet is still reported as an event",
    file: "src/device/smmu.ts",
    find: "return { ok: false, fault: faultName(f.type), event: f.recorded };",
    replace: "return { ok: false, fault: faultName(f.type), event: f.type !== 0 };",
    expect: /\(event: true\) gave 0 records and 0 lost/,
  },
  {
    name: "a written event record does not signal the event queue interrupt",
    file: "src/device/events.ts",
    find: "this.#irq.signal(EVENTQ_IRQ);",
    replace: "",
    expect: /records written and no wired event queue interrupt/,
  },
  {
    name: "an activated global error does not signal its interrupt",
    file: "src/device/irq.ts",
    find: "    this.#signal(GERROR_IRQ);",
    replace: "",
    expect: /activated and no wired global error interrupt/,
  },
  {
    name: "event records of an instruction write say InD = 1 (audit item 1)",
    file: "src/translation/faults.ts",
    find: "f.ind = f.rnw && (flags & ACCESS.EXEC) !== 0;",
    replace: "f.ind = (flags & ACCESS.EXEC) !== 0;",
    expect: /record's InD 1 for a write/,
  },
  {
    name: "an event record keeps bits of the record encoded before it (audit item 1)",
    file: "src/device/events.ts",
    find: "  out.fill(0);\n",
    replace: "",
    expect: /record's RES0 bits set|record's (InputAddr|RnW|SSV|SubstreamID)/,
  },
  {
    name: "the event queue is written while EVENTQ_ABT_ERR is active (audit item 2)",
    file: "src/device/events.ts",
    find:
      "if (GERROR.EVENTQ_ABT_ERR.get(w, W_GERROR) !== GERROR.EVENTQ_ABT_ERR.get(w, W_GERRORN)) return this.#lose();",
    replace: "",
    expect: /event records written while EVENTQ_ABT_ERR was active/,
  },
  {
    name: "an ATS request sets the Access flag whatever its completion grants (audit item 4)",
    file: "src/translation/walk.ts",
    find: "if (((!af && r.ha) || dirty) && ((flags & ACCESS.ATS) === 0 || atsGrantsAny(allow, flags))) {",
    replace: "if ((!af && r.ha) || dirty) {",
    expect: /an ATS completion granting nothing made \d+ descriptor flag updates/,
    // A request granting nothing that meets a leaf with AF 0 under HTTU: rare in the program mix.
    cases: 30_000,
  },
  {
    name: "CMD_CFGI_CD leaves the cached CD (audit item 5)",
    file: "src/translation/tlb.ts",
    find: "          if (ctx) this.#drop(ctx);\n",
    replace: "",
    expect:
      /after CMD_CFGI_CD\(.*\) and CMD_SYNC, the caches still hold|after CMD_CFGI_CD and CMD_SYNC, the caches still hold/,
  },
  {
    name: "CMD_CFGI_CD_ALL leaves the cached CDs (audit item 5)",
    file: "src/translation/tlb.ts",
    find: 'case "cd_all":\n        this.#dropSid(scope.sid, true);',
    replace: 'case "cd_all":',
    expect:
      /after CMD_CFGI_CD_ALL\(.*\) and CMD_SYNC, the caches still hold|after CMD_CFGI_CD_ALL and CMD_SYNC, the caches still hold/,
  },
  {
    name: "CMD_TLBI_NH_ALL leaves the VMID's stage-1 entries (audit item 5)",
    file: "src/translation/tlb.ts",
    find:
      'case "nh_all":\n        for (const ctx of this.#select(CLASS.EL1, scope.vmid, vmw, ANY_ASID)) this.#clear(ctx);',
    replace: 'case "nh_all":',
    expect:
      /after CMD_TLBI_(NH_ALL|S12_VMALL|NSNH_ALL)\(.*\) and CMD_SYNC, the caches still hold|after CMD_TLBI_(NH_ALL|S12_VMALL|NSNH_ALL) and CMD_SYNC, the caches still hold/,
  },
  {
    name: "CMD_TLBI_NH_ASID leaves the ASID's entries (audit item 5)",
    file: "src/translation/tlb.ts",
    find: "for (const ctx of this.#select(CLASS.EL1, scope.vmid, vmw, scope.asid)) this.#removeNonGlobal(ctx);",
    replace: "",
    expect:
      /after CMD_TLBI_NH_ASID\(.*\) and CMD_SYNC, the caches still hold|after CMD_TLBI_NH_ASID and CMD_SYNC, the caches still hold/,
    // A TLBI by ASID meeting a cached non-global entry of that ASID: rare in the program mix.
    cases: 30_000,
  },
  {
    name: "CMD_TLBI_NH_VA leaves the address's entries (audit item 5)",
    file: "src/translation/tlb.ts",
    find: "this.#byAddress(CLASS.EL1, scope.vmid, vmw, scope.asid, scope.addr, scope.range, scope.leaf);",
    replace: "",
    expect:
      /after CMD_TLBI_NH_VAA?\(.*\) and CMD_SYNC, the caches still hold|after CMD_TLBI_NH_VAA? and CMD_SYNC, the caches still hold/,
  },
  {
    name: "CMD_TLBI_S12_VMALL leaves the stage-2 entries (audit item 5)",
    file: "src/translation/tlb.ts",
    find: "for (const ctx of this.#select(CLASS.S2, scope.vmid, vmw, ANY_ASID)) this.#clear(ctx);",
    replace: "",
    expect:
      /after CMD_TLBI_S12_VMALL\(.*\) and CMD_SYNC, the caches still hold|after CMD_TLBI_S12_VMALL and CMD_SYNC, the caches still hold/,
    // A cached stage-2-only entry of the VMID at an S12_VMALL: rare in the program mix.
    cases: 30_000,
  },
  {
    name: "CMD_TLBI_S2_IPA leaves the IPA's stage-2 entries (audit item 5)",
    file: "src/translation/tlb.ts",
    find: "          this.#removeRange(ctx, lo, hi, false);\n",
    replace: "",
    expect:
      /after CMD_TLBI_S2_IPA\(.*\) and CMD_SYNC, the caches still hold|after CMD_TLBI_S2_IPA and CMD_SYNC, the caches still hold/,
    // A cached stage-2-only entry of the IPA at an S2_IPA: rare in the program mix.
    cases: 30_000,
  },
  {
    name: "CMD_CFGI_ALL leaves cached STEs and CDs",
    file: "src/translation/tlb.ts",
    find: '      case "cfg_all":\n        this.clear();\n        return;',
    replace: '      case "cfg_all":\n        return;',
    // Or by the cached-STE invariant: an STE the guest rewrote and invalidated with CMD_CFGI_ALL stays cached.
    expect:
      /after CFGI_ALL, TLBI_NSNH_ALL and CMD_SYNC|used a cached STE unlike the one at .*, which nothing wrote since its last invalidation|after CMD_CFGI_STE_RANGE\(.*\) and CMD_SYNC, the caches still hold/,
  },
  {
    name: "CMD_CFGI_STE drops the cached STE but not the contexts built from it",
    file: "src/translation/tlb.ts",
    find: '      case "ste":\n        this.#dropSid(scope.sid, false);',
    replace: '      case "ste":\n        this.#streams.delete(scope.sid);',
    // Or by the scoped-invalidation check: the context built from the STE outlives its CMD_CFGI_STE.
    expect:
      /used a cached STE unlike the one at 0x[0-9a-f]+, which nothing wrote since its last invalidation|after CMD_CFGI_STE\(\d+\) and CMD_SYNC, the caches still hold the context/,
  },
  {
    name: "a TLB hit on the fast path ignores the access's permissions",
    file: "src/translation/tlb_pages.ts",
    find: "if (((data[d | ALLOW] >> access) & 1) === 0) return DENIED;",
    replace: "",
    expect: /a TLB hit gave pa|where probe said/,
  },
  {
    name: "a cached entry answers for an access its permissions refuse",
    file: "src/translation/translate.ts",
    find: "if (row >= 0 && ((this.#rows.allow(row) >> raw) & 1) === 1) {",
    replace: "if (row >= 0) {",
    expect: /a TLB hit gave pa|where probe said/,
  },
  {
    name: "event records lose the upper half of the input address",
    file: "src/device/events.ts",
    find: "r.inHi?.set(out, INPUT[1]);",
    replace: "r.inHi?.set(out, 0);",
    expect: /record's InputAddr/,
  },
  {
    name: "CR0ACK not updated by a CR0 write",
    file: "src/device/mmio.ts",
    find: "w[W_CR0ACK] = v[0]; // every change takes effect at once",
    replace: "",
    expect: /CR0ACK .* != CR0/,
  },
  {
    name: "context cache never evicts",
    file: "src/translation/tlb.ts",
    find: "if (this.#contexts.size >= this.maxContexts) this.#evictContext();",
    replace: "if (false) this.#evictContext();",
    expect: /caches above their bounds/,
  },
  {
    name: "walks go on below level 3",
    file: "src/translation/walk.ts",
    find: "if (!isTable || level === LAST_LEVEL) {",
    replace: "if (!isTable) {",
    expect: /unbounded work|memory accesses, more than|exception escaped/,
  },
  {
    name: "probe has the effects of a transaction",
    file: "src/translation/translate.ts",
    find:
      "return this.#slow(sid, ssid, iova, flags | (tag === NO_TAG ? 0 : ACCESS.TAGGED), false, trace ?? null, UNKNOWN);",
    replace:
      "return this.#slow(sid, ssid, iova, flags | (tag === NO_TAG ? 0 : ACCESS.TAGGED), true, trace ?? null, UNKNOWN);",
    expect: /probe (wrote guest memory|recorded an event)/,
  },
  {
    name: "restore keeps the caches of the state it replaces",
    file: "src/device/smmu.ts",
    find: "this.#sem.rederive();\n    this.#engine.flushAll();",
    replace: "this.#sem.rederive();",
    expect:
      /after restore, sid|used a cached STE unlike the one at .*, which nothing wrote since its last invalidation/,
  },
  {
    name: "a nested hardware update skips stage 2's write permission (issue 12 item 1)",
    file: "src/translation/walk.ts",
    find: "    if (this.tables !== null && s1) {",
    replace: "    if (false) {",
    expect: /a hardware update wrote the stage-1 descriptor at .*, read-only at stage 2/,
  },
  {
    name: "a stage-2 fault on a stage-1 table write records TTRnW = 1 (issue 12 item 2)",
    file: "src/translation/walk.ts",
    find: "        this.#tableFault(ipa, false);",
    replace: "        this.#tableFault(ipa, true);",
    expect: /on a stage-1 table write with TTRnW 1/,
  },
  {
    name: "stage-1 fault records carry CLASS = CD (issue 12 item 3)",
    file: "src/translation/walk.ts",
    find: "const cls = !s2 && type === EVENT_TYPE.F_WALK_EABT ? EVT_CLASS.TT : EVT_CLASS.IN;",
    replace: "const cls = !s2 && type === EVENT_TYPE.F_WALK_EABT ? EVT_CLASS.TT : s2 ? EVT_CLASS.IN : EVT_CLASS.CD;",
    expect: /a stage-1 F_\w+ with CLASS 0, not 2/,
  },
  {
    name: "a bypass stream aborts an input beyond the OAS silently (issue 12 item 4)",
    file: "src/translation/translate.ts",
    find: "      if (stream) return this.#inputAddressSize(sid, ssid, iova, flags, effects);",
    replace: "",
    expect: /stage 1 bypassed, input .* beyond the IAS gave ABORT, not F_ADDR_SIZE/,
  },
  {
    name: "a host memory's exception escapes the guard",
    file: "src/core/memory.ts",
    find: "    } catch {\n      return ABORT;\n    }",
    replace: "    } catch (e) {\n      throw e;\n    }",
    expect: /exception escaped/,
  },
  // ---- the stall model, the PRI queue and ATS (issue 17)
  {
    name: "CMD_RESUME ends a stall of another StreamID with the same STAG",
    file: "src/device/stall.ts",
    find: "if (p === undefined || p.sid !== sid) return;",
    replace: "if (p === undefined) return;",
    expect: /ended \(\w+\) without a cause in the step/,
  },
  {
    name: "a stalled transaction's record says Stall = 0",
    file: "src/device/events.ts",
    find: "    r.stall.set(out, 1);\n",
    replace: "",
    expect: /stalled transaction's \w+ record has Stall 0/,
  },
  {
    name: "unrecorded stalls are never retried when the event queue becomes writable",
    file: "src/device/stall.ts",
    find: "if (!retried && this.#unrecorded > 0 && this.#writable()) {",
    replace: "if (false) {",
    expect: /record unwritten while the event queue is writable/,
  },
  {
    name: "an active PRI queue overflow does not inhibit new records",
    file: "src/device/priq.ts",
    find:
      "if (PRIQ_PROD.OVFLG.get(w, W_PRIQ_PROD) !== PRIQ_CONS.OVACKFLG.get(w, W_PRIQ_CONS)) return this.#overflowed(q);",
    replace: "",
    // Caught as a record written in overflow, or as OVFLG toggled again while the overflow was still active.
    expect: /queued into a PRI queue that cannot take it|OVFLG toggled without an overflow/,
  },
  {
    name: "PRI records lose the Page Request Group index",
    file: "src/device/priq.ts",
    find: "PRI_RECORD.PRGIndex.set(rec, q.group);",
    replace: "",
    expect: /PRI record's PRGIndex/,
  },
  {
    name: "an ATS completion grants write where the page is only readable",
    file: "src/translation/ats.ts",
    find: "const r = can(0), x = can(ACCESS.EXEC), w = can(ACCESS.WRITE);",
    replace: "const r = can(0), x = can(ACCESS.EXEC), w = r;",
    expect: /ATS granted W/,
  },
  {
    name: "an ATS Translation Request records its translation fault",
    file: "src/translation/faults.ts",
    find: "f.recorded = record && !this.quiet;",
    replace: "f.recorded = record;",
    expect: /an ATS Translation Request recorded [CF]_/,
  },
];
