// A real control plane with the twinroot CRDs installed, for the tests of one describe
// block: `before(async () => ({ cp, kube } = await startApiServer()))` and
// `after(() => stopApiServer(cp, kube))`.

import { installCrds } from "../../../controller/kube/install";
import { Kube } from "../../../controller/kube/rest";
import { ControlPlane } from "../../../lab/harness/control-plane";

/** Starts etcd and kube-apiserver and installs the CRDs; `kube` is an admin client. */
export async function startApiServer(): Promise<{ cp: ControlPlane; kube: Kube }> {
  const cp = await ControlPlane.start();
  const kube = new Kube(cp.kubeConfig());
  await installCrds(kube);
  return { cp, kube };
}

/** Closes the client and stops the control plane (either may be unset when start failed). */
export async function stopApiServer(cp: ControlPlane | undefined, kube: Kube | undefined): Promise<void> {
  kube?.close();
  await cp?.stop();
}
