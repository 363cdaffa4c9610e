// `@pulumi/openstack` for the programs that use it: a dev dependency of the repository
// (twinroot the library does not depend on it; its components take the narrow
// OpenStackComputeApi and GlanceImagesApi, which components/openstack-api.test.ts checks
// the real module against). The module is typed as itself, so the type check sees each
// program's use of the real SDK. It is required rather than imported at the top so that a
// checkout without it fails with the package's name instead of a bare module error.

import type * as OpenStack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";

/** The `@pulumi/openstack` module. */
export type OpenStackSdk = typeof OpenStack;

/**
 * The OpenStack SDK, or a `pulumi.RunError` naming what to install when it is missing.
 * Any other failure of loading it is rethrown as it is.
 */
export function loadOpenStack(load: (id: string) => unknown = require): OpenStackSdk {
  try {
    return load("@pulumi/openstack") as OpenStackSdk;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== "MODULE_NOT_FOUND" || !e.message.includes("'@pulumi/openstack'")) throw err;
    throw new pulumi.RunError(
      `this program needs the @pulumi/openstack package (run npm install in the repository root) and its provider plugin pulumi-resource-openstack: ${e.message.split("\n")[0]}`,
    );
  }
}
