// The Huffman half of Go's `compress/flate` writer (huffman_code.go and
// huffman_bit_writer.go): length-limited canonical codes built exactly as Go builds
// them, and the block writer that picks a stored, fixed or dynamic block by size.
// Split from gzip.ts, which holds the LZ77 half; together they reproduce Go's bytes.

const maxNumLit = 286;
const maxStoreBlockSize = 65535;
const offsetCodeCount = 30;
const endBlockMarker = 256;
const lengthCodesStart = 257;
const codegenCodeCount = 19;
const badCode = 255;
/** Tokens at or above this are matches (length and offset packed below it). */
export const matchType = 1 << 30;
/** Bit position of a match token's length. */
export const lengthShift = 22;
const offsetMask = (1 << lengthShift) - 1;

const lengthExtraBits = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const lengthBase = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 255];
const offsetExtraBits = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const offsetBase = [
  0x0, 0x1, 0x2, 0x3, 0x4, 0x6, 0x8, 0xc, 0x10, 0x18, 0x20, 0x30, 0x40, 0x60, 0x80, 0xc0, 0x100, 0x180, 0x200, 0x300, 0x400, 0x600, 0x800, 0xc00, 0x1000,
  0x1800, 0x2000, 0x3000, 0x4000, 0x6000,
];
const codegenOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

// Code of a length (minus 3) / an offset (minus 1): the last base not above it.
const lengthCodes = new Uint8Array(256);
for (let x = 0, c = 0; x < 256; x++) {
  while (c + 1 < lengthBase.length && (lengthBase[c + 1] as number) <= x) c++;
  lengthCodes[x] = c;
}
const offsetCodes = new Uint8Array(1 << 15);
for (let x = 0, c = 0; x < offsetCodes.length; x++) {
  while (c + 1 < offsetBase.length && (offsetBase[c + 1] as number) <= x) c++;
  offsetCodes[x] = c;
}

function reverseBits(n: number, len: number): number {
  let r = 0;
  for (let i = 0; i < len; i++) r |= ((n >> i) & 1) << (len - 1 - i);
  return r;
}

/** Canonical Huffman codes for one alphabet, built as Go's `huffmanEncoder` does. */
class HuffmanEncoder {
  readonly code: Uint16Array;
  readonly len: Uint8Array;
  private readonly bitCount = new Int32Array(17);

  constructor(size: number) {
    this.code = new Uint16Array(size);
    this.len = new Uint8Array(size);
  }

  bitLength(freq: Int32Array): number {
    let total = 0;
    for (let i = 0; i < freq.length; i++) {
      const f = freq[i] as number;
      if (f !== 0) total += f * (this.len[i] as number);
    }
    return total;
  }

  generate(freq: Int32Array, maxBits: number): void {
    const lits: number[] = [];
    const freqs: number[] = [];
    for (let i = 0; i < freq.length; i++) {
      const f = freq[i] as number;
      if (f !== 0) {
        lits.push(i);
        freqs.push(f);
      } else this.len[i] = 0;
    }
    if (lits.length <= 2) {
      for (let i = 0; i < lits.length; i++) {
        this.code[lits[i] as number] = i;
        this.len[lits[i] as number] = 1;
      }
      return;
    }
    const order = lits.map((_, i) => i).sort((a, b) => (freqs[a] as number) - (freqs[b] as number) || (lits[a] as number) - (lits[b] as number));
    const list = order.map((i) => ({ literal: lits[i] as number, freq: freqs[i] as number }));
    const bitCount = this.bitCounts(list, maxBits);
    this.assign(bitCount, list);
  }

  // Package-merge limited to maxBits, exactly as Go's bitCounts.
  private bitCounts(list: { literal: number; freq: number }[], maxBitsIn: number): Int32Array {
    const n = list.length;
    const freqAt = (i: number): number => (i < n ? (list[i] as { freq: number }).freq : 0x7fffffff);
    let maxBits = maxBitsIn;
    if (maxBits > n - 1) maxBits = n - 1;
    const MAX = 0x7fffffff;
    const levels = Array.from({ length: 17 }, () => ({ level: 0, lastFreq: 0, nextCharFreq: 0, nextPairFreq: 0, needed: 0 }));
    const leafCounts = Array.from({ length: 17 }, () => new Int32Array(17));
    for (let level = 1; level <= maxBits; level++) {
      const l = levels[level] as (typeof levels)[number];
      l.level = level;
      l.lastFreq = freqAt(1);
      l.nextCharFreq = freqAt(2);
      l.nextPairFreq = level === 1 ? MAX : freqAt(0) + freqAt(1);
      l.needed = 0;
      (leafCounts[level] as Int32Array)[level] = 2;
    }
    (levels[maxBits] as (typeof levels)[number]).needed = 2 * n - 4;
    let level = maxBits;
    for (;;) {
      const l = levels[level] as (typeof levels)[number];
      if (l.nextPairFreq === MAX && l.nextCharFreq === MAX) {
        l.needed = 0;
        (levels[level + 1] as (typeof levels)[number]).nextPairFreq = MAX;
        level++;
        continue;
      }
      const prevFreq = l.lastFreq;
      const lc = leafCounts[level] as Int32Array;
      if (l.nextCharFreq < l.nextPairFreq) {
        const next = (lc[level] as number) + 1;
        l.lastFreq = l.nextCharFreq;
        lc[level] = next;
        l.nextCharFreq = freqAt(next);
      } else {
        l.lastFreq = l.nextPairFreq;
        lc.set((leafCounts[level - 1] as Int32Array).subarray(0, level), 0);
        (levels[l.level - 1] as (typeof levels)[number]).needed = 2;
      }
      l.needed--;
      if (l.needed === 0) {
        if (l.level === maxBits) break;
        (levels[l.level + 1] as (typeof levels)[number]).nextPairFreq = prevFreq + l.lastFreq;
        level++;
      } else {
        while ((levels[level - 1] as (typeof levels)[number]).needed > 0) level--;
      }
    }
    const counts = leafCounts[maxBits] as Int32Array;
    if (counts[maxBits] !== n) throw new Error("gzip: huffman leaf count mismatch");
    const bitCount = this.bitCount.subarray(0, maxBits + 1);
    let bits = 1;
    for (let lv = maxBits; lv > 0; lv--) {
      bitCount[bits] = (counts[lv] as number) - (counts[lv - 1] as number);
      bits++;
    }
    return bitCount;
  }

  private assign(bitCount: Int32Array, listIn: { literal: number; freq: number }[]): void {
    let code = 0;
    let list = listIn;
    for (let n = 0; n < bitCount.length; n++) {
      const bits = bitCount[n] as number;
      code = (code << 1) & 0xffff;
      if (n === 0 || bits === 0) continue;
      const chunk = list.slice(list.length - bits).sort((a, b) => a.literal - b.literal);
      for (const node of chunk) {
        this.code[node.literal] = reverseBits(code, n);
        this.len[node.literal] = n;
        code++;
      }
      list = list.slice(0, list.length - bits);
    }
  }
}

const fixedLiteral = new HuffmanEncoder(maxNumLit);
for (let ch = 0; ch < maxNumLit; ch++) {
  const [bits, size] = ch < 144 ? [ch + 48, 8] : ch < 256 ? [ch + 400 - 144, 9] : ch < 280 ? [ch - 256, 7] : [ch + 192 - 280, 8];
  fixedLiteral.code[ch] = reverseBits(bits, size);
  fixedLiteral.len[ch] = size;
}
const fixedOffset = new HuffmanEncoder(offsetCodeCount);
for (let ch = 0; ch < offsetCodeCount; ch++) {
  fixedOffset.code[ch] = reverseBits(ch, 5);
  fixedOffset.len[ch] = 5;
}

/** LSB-first bit writer with the block encoders of Go's `huffmanBitWriter`. */
export class BitWriter {
  out = new Uint8Array(1024);
  n = 0;
  private bits = 0;
  private nbits = 0;
  private readonly literalFreq = new Int32Array(maxNumLit);
  private readonly offsetFreq = new Int32Array(offsetCodeCount);
  private readonly codegenFreq = new Int32Array(codegenCodeCount);
  private readonly codegen = new Uint8Array(maxNumLit + offsetCodeCount + 1);
  private readonly literalEnc = new HuffmanEncoder(maxNumLit);
  private readonly offsetEnc = new HuffmanEncoder(offsetCodeCount);
  private readonly codegenEnc = new HuffmanEncoder(codegenCodeCount);

  private ensure(extra: number): void {
    if (this.n + extra <= this.out.length) return;
    const next = new Uint8Array(Math.max(this.out.length * 2, this.n + extra));
    next.set(this.out.subarray(0, this.n));
    this.out = next;
  }

  writeBits(value: number, nb: number): void {
    this.bits |= value << this.nbits;
    this.nbits += nb;
    while (this.nbits >= 8) {
      this.ensure(1);
      this.out[this.n++] = this.bits & 0xff;
      this.bits >>>= 8;
      this.nbits -= 8;
    }
  }

  flush(): void {
    if (this.nbits > 0) {
      this.ensure(1);
      this.out[this.n++] = this.bits & 0xff;
    }
    this.bits = 0;
    this.nbits = 0;
  }

  writeBytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.out.set(b, this.n);
    this.n += b.length;
  }

  writeStoredHeader(length: number, eof: boolean): void {
    this.writeBits(eof ? 1 : 0, 3);
    this.flush();
    this.writeBits(length, 16);
    this.writeBits(~length & 0xffff, 16);
  }

  private indexTokens(tokens: Uint32Array, count: number): [number, number] {
    this.literalFreq.fill(0);
    this.offsetFreq.fill(0);
    for (let i = 0; i < count; i++) {
      const t = tokens[i] as number;
      if (t < matchType) {
        this.literalFreq[t] = (this.literalFreq[t] as number) + 1;
        continue;
      }
      const length = (t - matchType) >>> lengthShift;
      const offset = t & offsetMask;
      const lc = lengthCodesStart + (lengthCodes[length] as number);
      const oc = offsetCodes[offset] as number;
      this.literalFreq[lc] = (this.literalFreq[lc] as number) + 1;
      this.offsetFreq[oc] = (this.offsetFreq[oc] as number) + 1;
    }
    let numLiterals = this.literalFreq.length;
    while (this.literalFreq[numLiterals - 1] === 0) numLiterals--;
    let numOffsets = this.offsetFreq.length;
    while (numOffsets > 0 && this.offsetFreq[numOffsets - 1] === 0) numOffsets--;
    if (numOffsets === 0) {
      this.offsetFreq[0] = 1;
      numOffsets = 1;
    }
    this.literalEnc.generate(this.literalFreq, 15);
    this.offsetEnc.generate(this.offsetFreq, 15);
    return [numLiterals, numOffsets];
  }

  private generateCodegen(numLiterals: number, numOffsets: number): void {
    this.codegenFreq.fill(0);
    const cg = this.codegen;
    for (let i = 0; i < numLiterals; i++) cg[i] = this.literalEnc.len[i] as number;
    for (let i = 0; i < numOffsets; i++) cg[numLiterals + i] = this.offsetEnc.len[i] as number;
    cg[numLiterals + numOffsets] = badCode;
    let size = cg[0] as number;
    let count = 1;
    let out = 0;
    for (let inIndex = 1; size !== badCode; inIndex++) {
      const nextSize = cg[inIndex] as number;
      if (nextSize === size) {
        count++;
        continue;
      }
      if (size !== 0) {
        cg[out++] = size;
        this.codegenFreq[size] = (this.codegenFreq[size] as number) + 1;
        count--;
        while (count >= 3) {
          const n = Math.min(6, count);
          cg[out++] = 16;
          cg[out++] = n - 3;
          this.codegenFreq[16] = (this.codegenFreq[16] as number) + 1;
          count -= n;
        }
      } else {
        while (count >= 11) {
          const n = Math.min(138, count);
          cg[out++] = 18;
          cg[out++] = n - 11;
          this.codegenFreq[18] = (this.codegenFreq[18] as number) + 1;
          count -= n;
        }
        if (count >= 3) {
          cg[out++] = 17;
          cg[out++] = count - 3;
          this.codegenFreq[17] = (this.codegenFreq[17] as number) + 1;
          count = 0;
        }
      }
      count--;
      for (; count >= 0; count--) {
        cg[out++] = size;
        this.codegenFreq[size] = (this.codegenFreq[size] as number) + 1;
      }
      size = nextSize;
      count = 1;
    }
    cg[out] = badCode;
  }

  private dynamicSize(extraBits: number): [number, number] {
    let numCodegens = codegenCodeCount;
    while (numCodegens > 4 && this.codegenFreq[codegenOrder[numCodegens - 1] as number] === 0) numCodegens--;
    const f = this.codegenFreq;
    const header = 3 + 5 + 5 + 4 + 3 * numCodegens + this.codegenEnc.bitLength(f) + (f[16] as number) * 2 + (f[17] as number) * 3 + (f[18] as number) * 7;
    return [header + this.literalEnc.bitLength(this.literalFreq) + this.offsetEnc.bitLength(this.offsetFreq) + extraBits, numCodegens];
  }

  private writeCode(enc: HuffmanEncoder, sym: number): void {
    this.writeBits(enc.code[sym] as number, enc.len[sym] as number);
  }

  private writeDynamicHeader(numLiterals: number, numOffsets: number, numCodegens: number, eof: boolean): void {
    this.writeBits(eof ? 5 : 4, 3);
    this.writeBits(numLiterals - 257, 5);
    this.writeBits(numOffsets - 1, 5);
    this.writeBits(numCodegens - 4, 4);
    for (let i = 0; i < numCodegens; i++) this.writeBits(this.codegenEnc.len[codegenOrder[i] as number] as number, 3);
    for (let i = 0; ; ) {
      const word = this.codegen[i++] as number;
      if (word === badCode) break;
      this.writeCode(this.codegenEnc, word);
      if (word === 16) this.writeBits(this.codegen[i++] as number, 2);
      else if (word === 17) this.writeBits(this.codegen[i++] as number, 3);
      else if (word === 18) this.writeBits(this.codegen[i++] as number, 7);
    }
  }

  /** Go's `writeBlock`: the smallest of a stored, fixed-Huffman or dynamic-Huffman block. */
  writeBlock(tokens: Uint32Array, count: number, eof: boolean, input: Uint8Array | null): void {
    tokens[count++] = endBlockMarker;
    const [numLiterals, numOffsets] = this.indexTokens(tokens, count);
    let extraBits = 0;
    const storable = input !== null && input.length <= maxStoreBlockSize;
    const storedSize = storable ? (input.length + 5) * 8 : 0;
    if (storable) {
      for (let lc = lengthCodesStart + 8; lc < numLiterals; lc++)
        extraBits += (this.literalFreq[lc] as number) * (lengthExtraBits[lc - lengthCodesStart] as number);
      for (let oc = 4; oc < numOffsets; oc++) extraBits += (this.offsetFreq[oc] as number) * (offsetExtraBits[oc] as number);
    }
    let litEnc = fixedLiteral;
    let offEnc = fixedOffset;
    let size = 3 + fixedLiteral.bitLength(this.literalFreq) + fixedOffset.bitLength(this.offsetFreq) + extraBits;
    this.generateCodegen(numLiterals, numOffsets);
    this.codegenEnc.generate(this.codegenFreq, 7);
    const [dynSize, numCodegens] = this.dynamicSize(extraBits);
    if (dynSize < size) {
      size = dynSize;
      litEnc = this.literalEnc;
      offEnc = this.offsetEnc;
    }
    if (storable && storedSize < size) {
      this.writeStoredHeader(input.length, eof);
      this.writeBytes(input);
      return;
    }
    if (litEnc === fixedLiteral) this.writeBits(eof ? 3 : 2, 3);
    else this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
    for (let i = 0; i < count; i++) {
      const t = tokens[i] as number;
      if (t < matchType) {
        this.writeCode(litEnc, t);
        continue;
      }
      const length = (t - matchType) >>> lengthShift;
      const lc = lengthCodes[length] as number;
      this.writeCode(litEnc, lc + lengthCodesStart);
      const lx = lengthExtraBits[lc] as number;
      if (lx > 0) this.writeBits(length - (lengthBase[lc] as number), lx);
      const offset = t & offsetMask;
      const oc = offsetCodes[offset] as number;
      this.writeCode(offEnc, oc);
      const ox = offsetExtraBits[oc] as number;
      if (ox > 0) this.writeBits(offset - (offsetBase[oc] as number), ox);
    }
  }
}
