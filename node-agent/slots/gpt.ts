// A GPT parser: pure functions over the bytes of the header and the partition entry
// array, so it is tested on tables made by sgdisk without any device. Only the primary
// table is read; both CRCs are checked so a torn or foreign table is an error, not a guess.

import zlib from "node:zlib";

/** One used GPT partition entry. */
export interface GptPartition {
  /** 1-based partition number, as the kernel names it (`vda3`, `nvme0n1p3`). */
  number: number;
  /** Partition type GUID, upper case. */
  typeGuid: string;
  /** Unique partition GUID (`PARTUUID`), upper case. */
  uniqueGuid: string;
  /** The partition name (`PARTLABEL`). */
  label: string;
  firstLba: bigint;
  lastLba: bigint;
  /** Size in bytes, from the LBAs and the sector size. */
  sizeBytes: number;
  /** Offset of the first byte on the disk. */
  offsetBytes: number;
}

/** A parsed GPT. */
export interface Gpt {
  diskGuid: string;
  sectorSize: number;
  partitions: GptPartition[];
}

/** Where the entry array is and how big it is, read from the header. */
export interface GptHeaderInfo {
  entriesLba: bigint;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
  diskGuid: string;
}

/** Why a GPT could not be read. */
export type GptErrorCode = "no-gpt" | "bad-header-crc" | "bad-entries-crc" | "unsupported";

/** A GPT that is missing or damaged. */
export class GptError extends Error {
  constructor(
    readonly code: GptErrorCode,
    message: string,
  ) {
    super(`gpt: ${message}`);
    this.name = "GptError";
  }
}

const SIGNATURE = "EFI PART";
const ZERO_GUID = "00000000-0000-0000-0000-000000000000";

/** Formats 16 bytes of a GPT GUID (first three fields little endian) as text. */
export function formatGuid(b: Buffer): string {
  const hex = (buf: Buffer) => buf.toString("hex");
  const le = (start: number, end: number) => hex(Buffer.from(b.subarray(start, end)).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`.toUpperCase();
}

/** Parses the GPT header in the sector at LBA 1 and checks its CRC. */
export function parseGptHeader(sector: Buffer): GptHeaderInfo {
  if (sector.length < 92 || sector.toString("latin1", 0, 8) !== SIGNATURE) throw new GptError("no-gpt", "no GPT header at LBA 1");
  const headerSize = sector.readUInt32LE(12);
  if (headerSize < 92 || headerSize > sector.length) throw new GptError("unsupported", `header size ${headerSize}`);
  const copy = Buffer.from(sector.subarray(0, headerSize));
  const wantCrc = copy.readUInt32LE(16);
  copy.writeUInt32LE(0, 16);
  if (zlib.crc32(copy) !== wantCrc) throw new GptError("bad-header-crc", "header CRC mismatch");
  const entrySize = sector.readUInt32LE(84);
  if (entrySize < 128 || entrySize % 8 !== 0) throw new GptError("unsupported", `entry size ${entrySize}`);
  return {
    diskGuid: formatGuid(sector.subarray(56, 72)),
    entriesLba: sector.readBigUInt64LE(72),
    entryCount: sector.readUInt32LE(80),
    entrySize,
    entriesCrc: sector.readUInt32LE(88),
  };
}

/** Parses the partition entry array (checking its CRC) into the used partitions. */
export function parseGptEntries(header: GptHeaderInfo, entries: Buffer, sectorSize: number): Gpt {
  const total = header.entryCount * header.entrySize;
  if (entries.length < total) throw new GptError("unsupported", `entry array is ${entries.length} bytes, header says ${total}`);
  if (zlib.crc32(entries.subarray(0, total)) !== header.entriesCrc) throw new GptError("bad-entries-crc", "partition entry array CRC mismatch");
  const partitions: GptPartition[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const e = entries.subarray(i * header.entrySize, (i + 1) * header.entrySize);
    const typeGuid = formatGuid(e.subarray(0, 16));
    if (typeGuid === ZERO_GUID) continue;
    const firstLba = e.readBigUInt64LE(32);
    const lastLba = e.readBigUInt64LE(40);
    const nameRaw = e.subarray(56, 128).toString("utf16le");
    const nul = nameRaw.indexOf("\u0000");
    partitions.push({
      number: i + 1,
      typeGuid,
      uniqueGuid: formatGuid(e.subarray(16, 32)),
      label: nul === -1 ? nameRaw : nameRaw.slice(0, nul),
      firstLba,
      lastLba,
      sizeBytes: Number(lastLba - firstLba + 1n) * sectorSize,
      offsetBytes: Number(firstLba) * sectorSize,
    });
  }
  return { diskGuid: header.diskGuid, sectorSize, partitions };
}

/**
 * Reads a GPT through `read(offset, length)` (a file or a block device), trying the
 * given sector size first and then the other common one, since 4Kn disks put the
 * header at byte 4096.
 */
export function readGpt(read: (offset: number, length: number) => Buffer, sectorSize = 512): Gpt {
  const sizes = sectorSize === 512 ? [512, 4096] : [sectorSize, 512];
  let firstError: unknown;
  for (const size of sizes) {
    try {
      const header = parseGptHeader(read(size, size));
      const bytes = header.entryCount * header.entrySize;
      return parseGptEntries(header, read(Number(header.entriesLba) * size, bytes), size);
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}
