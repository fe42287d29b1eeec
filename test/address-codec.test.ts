// The lossless address codec (src/stream/address-codec.ts): surrogateescape
// decoding of sun_path bytes and its inverse, checked as properties over
// random byte strings, against Python's own codec, and for plain strings.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { addressText, decodeAddress, encodeAddress, isAbstract, presentAddress } from '../src/stream/address-codec';

const bytes = fc.uint8Array({ maxLength: 108 });

test('bytes -> string -> bytes is the identity (random byte strings)', (t) => {
  fc.assert(
    fc.property(bytes, (b) => {
      const s = decodeAddress(b);
      const back = encodeAddress(s);
      return back !== null && Buffer.compare(back, Buffer.from(b)) === 0;
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('two different byte strings never decode to the same string', (t) => {
  fc.assert(
    fc.property(bytes, bytes, (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0 || decodeAddress(a) !== decodeAddress(b)),
    { numRuns: 5000 },
  );
  // The motivating pair: Latin-1 é versus the replacement character's bytes.
  t.not(decodeAddress(Buffer.from('\0caf\xe9', 'latin1')), decodeAddress(Buffer.from('\0caf\uFFFD')));
});

test('valid UTF-8 decodes as UTF-8; each invalid byte becomes U+DC80..U+DCFF', (t) => {
  t.is(decodeAddress(Buffer.from('\0café ☃ 𝄞')), '\0café ☃ 𝄞');
  t.is(decodeAddress(Buffer.from([0, 0x63, 0xe9])), '\0c\udce9');
  t.is(decodeAddress(Buffer.from([0xc3])), '\udcc3', 'truncated sequence');
  t.is(decodeAddress(Buffer.from([0xed, 0xa0, 0x80])), '\udced\udca0\udc80', 'encoded surrogate is not UTF-8');
  t.is(decodeAddress(Buffer.from([0xc0, 0xaf])), '\udcc0\udcaf', 'overlong');
  t.is(decodeAddress(Buffer.from([0xf4, 0x90, 0x80, 0x80])), '\udcf4\udc90\udc80\udc80', 'above U+10FFFF');
  t.is(decodeAddress(new Uint8Array([0x61, 0xff, 0x62]).subarray(1, 2)), '\udcff', 'a view: only its own bytes');
});

test('matches Python surrogateescape on random byte strings', (t) => {
  const samples = fc.sample(bytes, 300).map((b) => Buffer.from(b));
  const script = 'import sys,json\nfor l in sys.stdin: print(json.dumps(bytes.fromhex(l.strip()).decode("utf-8","surrogateescape")))';
  const out = execFileSync('python3', ['-c', script], { input: samples.map((b) => b.toString('hex')).join('\n') + '\n' }).toString();
  const theirs = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as string);
  t.is(theirs.length, samples.length);
  samples.forEach((b, i) => t.is(decodeAddress(b), theirs[i]!, b.toString('hex')));
});

test('strings written by hand encode as UTF-8, as before', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => Buffer.compare(encodeAddress(s)!, Buffer.from(s, 'utf8')) === 0),
    { numRuns: 2000 },
  );
  t.deepEqual(encodeAddress('/tmp/ü.sock'), Buffer.from('/tmp/ü.sock'));
  t.deepEqual(encodeAddress('\0a\udce9'), Buffer.from([0, 0x61, 0xe9]));
  t.deepEqual(encodeAddress('\ud834\udd1e'), Buffer.from('𝄞'), 'a surrogate pair is plain UTF-8');
});

test('lone surrogates that escape no byte have no encoding', (t) => {
  t.is(encodeAddress('\0a\ud800'), null);
  t.is(encodeAddress('\udc7f'), null);
  t.is(encodeAddress('\ud834x'), null);
});

test('presentAddress, addressText, isAbstract', (t) => {
  t.is(presentAddress('\0abc', 'utf8'), '\0abc');
  t.deepEqual(presentAddress('\0abc', 'buffer'), Buffer.from('\0abc'));
  const raw = Buffer.from([0, 0xe9]);
  t.is(presentAddress(raw, 'utf8'), '\0\udce9');
  const copy = presentAddress(raw, 'buffer') as Buffer;
  t.deepEqual(copy, raw);
  copy[1] = 1;
  t.is(raw[1], 0xe9, 'a copy of its own');
  t.is(addressText(raw), '\0\udce9');
  t.true(isAbstract(raw));
  t.true(isAbstract('\0x'));
  t.false(isAbstract('/x'));
  t.false(isAbstract(Buffer.from('/x')));
});
