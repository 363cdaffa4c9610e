// A TypeScript entry point bundled into one CommonJS file for Node 20, as the controller's
// and the proxy's images run it (controller/build-images.ts) and as the lab starts its
// controller processes (lab/nodes/controller-process.ts).

import { build } from "esbuild";

/** Bundles `entry` (an absolute path) into `outfile`; returns `outfile`. */
export async function bundleEntry(entry: string, outfile: string): Promise<string> {
  try {
    await build({ entryPoints: [entry], bundle: true, platform: "node", format: "cjs", target: "node20", outfile, legalComments: "none", logLevel: "error" });
  } catch (err) {
    throw new Error(`bundle ${entry}: ${(err as Error).message}`, { cause: err });
  }
  return outfile;
}
