// The public API of the twinroot package: the Pulumi components and the libraries they
// are built on. Each export is picked by hand; nothing internal leaks through a wildcard.
export * as ignition from "./ignition";
