/**
 * The explorer's HTTP server (Deno.serve, on 127.0.0.1 only): the page, the list of recorded vectors, and one endpoint
 * that turns a load request (a vector, files, a log, probes) into a model. Stateless: the page resends its request
 * with each new probe.
 * @module
 */
import { DEVIATIONS_FILE } from "../cli/deviations.ts";
import { InputError } from "../cli/io.ts";
import { firstLine } from "../cli/scenario.ts";
import { buildModel, type ExploreInput, type ProbeRequest } from "./inputs.ts";
import type { ExploreModel } from "./model.ts";
import { pageHtml } from "./page.ts";

/** A recorded vector the page offers. */
export interface VectorInfo {
  /** Path under tests/vectors/, e.g. "qemu-7.2/s1-4k-4level-basic.json". */
  path: string;
  name: string;
}

/** What the page may post to /api/load: an ExploreInput with bytes as base64, or a recorded vector by path. */
export interface LoadRequest {
  vector?: string;
  scenario?: { name: string; text: string };
  state?: string;
  memory?: { base: string; data: string }[];
  log?: string;
  probes?: ProbeRequest[];
}

/** Options of {@link serveExplorer}. */
export interface ServerOptions {
  /** TCP port; 0 (the default) lets the system choose. */
  port?: number;
  /** A model to show first (files named on the command line), with the request that rebuilds it. */
  initial?: { request: LoadRequest; model: ExploreModel } | null;
  /** Where the recorded vectors are (default: this checkout's tests/vectors/, if it has them). */
  vectors?: URL;
}

/** A running explorer. */
export interface Explorer {
  /** The page's address. */
  url: string;
  /** Stops serving. */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  finished: Promise<void>;
}

const MAX_BODY = 256 * 1024 * 1024;
const DEFAULT_VECTORS = new URL("../../tests/vectors/", import.meta.url);

/** The recorded vectors under `dir` (none when it is not a local folder). */
export function listVectors(dir: URL = DEFAULT_VECTORS): VectorInfo[] {
  if (dir.protocol !== "file:") return [];
  const out: VectorInfo[] = [];
  try {
    for (const sub of [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name).sort()) {
      const files = [...Deno.readDirSync(new URL(`${sub}/`, dir))].map((e) => e.name)
        .filter((n) => n.endsWith(".json") && n !== DEVIATIONS_FILE); // the folder's deviation list is no vector
      for (const name of files.sort()) out.push({ path: `${sub}/${name}`, name: name.replace(/\.json$/, "") });
    }
  } catch {
    return [];
  }
  return out;
}

function base64(s: string, where: string): Uint8Array {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    throw new InputError("not base64", where);
  }
}

/** A load request as explorer input; a vector must be one of `vectors` (no other file is read). */
export function inputOf(req: LoadRequest, vectors: VectorInfo[], dir: URL = DEFAULT_VECTORS): ExploreInput {
  const input: ExploreInput = {};
  if (req.vector !== undefined) {
    if (!vectors.some((v) => v.path === req.vector)) throw new InputError("no such recorded vector", req.vector);
    input.scenario = { name: `tests/vectors/${req.vector}`, text: Deno.readTextFileSync(new URL(req.vector, dir)) };
  } else if (req.scenario) {
    if (typeof req.scenario.name !== "string" || typeof req.scenario.text !== "string") {
      throw new InputError("expected a name and a text", "scenario");
    }
    input.scenario = req.scenario;
  }
  if (typeof req.state === "string") input.state = base64(req.state, "saved state");
  input.memory = (req.memory ?? []).map((m, i) => {
    let base: number;
    try {
      base = Number(BigInt(m.base));
    } catch {
      throw new InputError("not a number", `memory image ${i + 1} base "${m.base}"`);
    }
    return { base, bytes: base64(m.data, `memory image ${i + 1}`) };
  });
  if (typeof req.log === "string") input.log = req.log;
  input.probes = (req.probes ?? []).map((p, i) => {
    if (!Number.isInteger(p.sid) || typeof p.iova !== "string" || (p.dir !== "read" && p.dir !== "write")) {
      throw new InputError("expected sid, iova and dir (read or write)", `probe ${i + 1}`);
    }
    return p;
  });
  return input;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8" } });

/** Starts the explorer on 127.0.0.1. */
export function serveExplorer(options: ServerOptions = {}): Explorer {
  const dir = options.vectors ?? DEFAULT_VECTORS;
  const vectors = listVectors(dir);
  const page = pageHtml();
  let port = 0;
  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    // Only pages of this origin talk to it: a foreign Host is a DNS-rebinding attempt.
    const host = req.headers.get("host") ?? "";
    if (![`127.0.0.1:${port}`, `localhost:${port}`].includes(host)) return new Response("forbidden", { status: 403 });
    if (req.method === "GET" && url.pathname === "/") {
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (req.method === "GET" && url.pathname === "/api/vectors") return json(vectors);
    if (req.method === "GET" && url.pathname === "/api/initial") return json(options.initial ?? null);
    if (url.pathname === "/api/load") {
      if (req.method !== "POST" || !(req.headers.get("content-type") ?? "").startsWith("application/json")) {
        return json({ error: "POST a JSON load request" }, 405);
      }
      if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY) return json({ error: "too large" }, 413);
      try {
        const request = await req.json() as LoadRequest;
        return json({ model: buildModel(inputOf(request, vectors, dir)) });
      } catch (e) {
        return json({ error: e instanceof InputError ? e.message : `cannot load: ${firstLine(e)}` }, 400);
      }
    }
    return new Response("not found", { status: 404 });
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: options.port ?? 0, onListen: () => {} }, handler);
  port = (server.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    shutdown: () => server.shutdown(),
    finished: server.finished,
  };
}
