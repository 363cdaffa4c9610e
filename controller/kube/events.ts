// Kubernetes Events for twinroot objects. Repeats of the same reason and message on the
// same object within the series window update one Event's count instead of creating new
// ones, as client-go's recorder does. Events about a cluster-scoped object (OsRollout,
// OsNode, Node) live in the `default` namespace: the API server refuses them anywhere
// else ("involvedObject.namespace does not match event.namespace").

import type { Logger } from "./log";
import { EVENTS, type KObject, resourcePath } from "./resources";
import type { Kube } from "./rest";

/** The namespace of Events about cluster-scoped objects, as the API server requires. */
export const CLUSTER_EVENTS_NAMESPACE = "default";

/** Normal or Warning, as Kubernetes defines them. */
export type EventType = "Normal" | "Warning";

/** The object an Event is about. */
export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/** Records Events; failures are logged, never thrown (an Event is never worth failing a reconcile). */
export class EventRecorder {
  private readonly series = new Map<string, { name: string; count: number; at: number }>();

  constructor(
    private readonly kube: Kube,
    private readonly component: string,
    private readonly log: Logger,
    private readonly seriesWindowMs = 10 * 60_000,
  ) {}

  /** Records one Event about `obj`. */
  async record(obj: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = obj.namespace || CLUSTER_EVENTS_NAMESPACE;
    const key = `${obj.kind}/${obj.namespace ?? ""}/${obj.name}/${reason}/${message}`;
    const now = new Date().toISOString();
    const prev = this.series.get(key);
    try {
      if (prev && Date.now() - prev.at < this.seriesWindowMs) {
        prev.count++;
        prev.at = Date.now();
        await this.kube.request("PATCH", resourcePath(EVENTS, { namespace: ns, name: prev.name }), {
          body: { count: prev.count, lastTimestamp: now },
          contentType: "application/merge-patch+json",
        });
        return;
      }
      const name = `${obj.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
      await this.kube.request("POST", resourcePath(EVENTS, { namespace: ns }), {
        body: {
          apiVersion: "v1",
          kind: "Event",
          metadata: { name, namespace: ns },
          involvedObject: obj,
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: this.component },
          reportingComponent: this.component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      this.series.set(key, { name, count: 1, at: Date.now() });
      if (this.series.size > 4096) this.series.delete(this.series.keys().next().value as string);
    } catch (err) {
      this.log.warn("recording an event failed", { reason, object: obj.name, err });
    }
  }
}

/** The involved-object reference of a plain object. */
export function involved(o: KObject & { metadata?: { uid?: string } }, apiVersion: string, kind: string): InvolvedObject {
  return { apiVersion, kind, name: o.metadata?.name ?? "", namespace: o.metadata?.namespace, uid: o.metadata?.uid };
}
