// `@pulumi/openstack`, loaded only by the programs that use it: twinroot itself does not
// depend on it. The components are written against the narrow interfaces they use
// (OpenStackComputeApi, GlanceImagesApi), which the real module satisfies.

import * as pulumi from "@pulumi/pulumi";
import type { GlanceImagesApi, OpenStackComputeApi } from "../../components";

/** The OpenStack SDK, or a readable error naming the package to install. */
export function loadOpenStack(): OpenStackComputeApi & GlanceImagesApi {
  try {
    return require("@pulumi/openstack") as OpenStackComputeApi & GlanceImagesApi;
  } catch (err) {
    throw new pulumi.RunError(
      `this program needs the @pulumi/openstack package and its provider plugin (pulumi-resource-openstack): ${(err as Error).message.split("\n")[0]}`,
    );
  }
}
