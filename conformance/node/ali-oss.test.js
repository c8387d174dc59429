// ali-oss (V1 and V4 signing) against osstest. conformance/node_test.go
// starts the fake and runs `node --test` here with, in the environment:
//   OSS_ENDPOINT   http://127.0.0.1:PORT   OSS_REGION  oss-cn-shanghai
//   OSS_BUCKET, OSS_AK, OSS_SK             a root key
//   OSS_STS_AK, OSS_STS_SK, OSS_STS_TOKEN  an STS token for OSS_STS_KEY only
//   OSS_PRESIGN_OUT                        a file: presigned URLs, one a line,
//                                          that the Go test expires afterwards
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const OSS = require('ali-oss');

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run through conformance/node_test.go`);
  return v;
};

// With an IP endpoint ali-oss sends path /<key> and
// Host: <bucket>.oss-<region>.aliyuncs.com (virtual-hosted through Host).
// signatureUrl refuses an IP endpoint, so the presigner goes through
// "localhost" with the bucket in the path (sldEnable).
const newClient = (creds, extra) =>
  new OSS({
    endpoint: env('OSS_ENDPOINT'),
    region: env('OSS_REGION'),
    bucket: env('OSS_BUCKET'),
    accessKeyId: creds.ak || env('OSS_AK'),
    accessKeySecret: creds.sk || env('OSS_SK'),
    stsToken: creds.token,
    secure: false,
    ...extra,
  });
const client = (v4, creds = {}) => newClient(creds, { authorizationV4: v4 });
const presigner = (creds = {}) =>
  newClient(creds, { endpoint: env('OSS_ENDPOINT').replace('127.0.0.1', 'localhost'), sldEnable: true });

const stsCreds = () => ({ ak: env('OSS_STS_AK'), sk: env('OSS_STS_SK'), token: env('OSS_STS_TOKEN') });

function recordPresigned(url) {
  fs.appendFileSync(env('OSS_PRESIGN_OUT'), url + '\n');
}

for (const [name, v4] of [['V1', false], ['V4', true]]) {
  test(`${name}: put, get, head, delete`, async () => {
    const c = client(v4);
    const key = `node/${name}/small.txt`;
    const body = Buffer.from(`hello from ali-oss ${name}`);
    await c.put(key, body);
    const got = await c.get(key);
    assert.equal(got.res.status, 200);
    assert.deepEqual(got.content, body);
    const head = await c.head(key);
    assert.equal(head.res.headers['content-length'], String(body.length));
    await c.delete(key);
    await assert.rejects(c.head(key), err => err.status === 404);
  });

  test(`${name}: multipartUpload with parallel parts`, async () => {
    const c = client(v4);
    const key = `node/${name}/big.bin`;
    const data = crypto.randomBytes(5 * 100 * 1024 + 321);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alioss-')), 'big.bin');
    fs.writeFileSync(file, data);
    const res = await c.multipartUpload(key, file, { parallel: 4, partSize: 100 * 1024 });
    assert.equal(res.res.status, 200);
    const got = await c.get(key);
    assert.ok(got.content.equals(data), 'content differs after multipartUpload');
    assert.equal(got.res.headers['x-oss-object-type'], 'Multipart');
  });

  test(`${name}: abortMultipartUpload`, async () => {
    const c = client(v4);
    const key = `node/${name}/aborted.bin`;
    const init = await c.initMultipartUpload(key);
    await c.uploadPart(key, init.uploadId, 1, fileOf(crypto.randomBytes(1000)), 0, 1000);
    const parts = await c.listParts(key, init.uploadId);
    assert.equal([].concat(parts.parts).length, 1); // ali-oss gives one <Part> as an object
    await c.abortMultipartUpload(key, init.uploadId);
    await assert.rejects(c.listParts(key, init.uploadId), err => err.status === 404 && err.code === 'NoSuchUpload');
  });

  test(`${name}: STS token scoped to one object`, async () => {
    const c = client(v4, stsCreds());
    await c.put(env('OSS_STS_KEY'), Buffer.from('sts'));
    await assert.rejects(c.put('node/elsewhere', Buffer.from('x')), err => err.status === 403 && err.code === 'AccessDenied');
  });
}

function fileOf(buf) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alioss-')), 'part.bin');
  fs.writeFileSync(file, buf);
  return file;
}

test('presigned GET: signatureUrl (V1) and signatureUrlV4, root key and STS token', async () => {
  const key = 'node/presigned.txt';
  await client(true).put(key, Buffer.from('presigned'));
  await client(true, stsCreds()).put(env('OSS_STS_KEY'), Buffer.from('sts presigned'));

  const urls = [
    [presigner().signatureUrl(key, { expires: 600 }), 'presigned'],
    [await presigner().signatureUrlV4('GET', 600, undefined, key), 'presigned'],
    [presigner(stsCreds()).signatureUrl(env('OSS_STS_KEY'), { expires: 600 }), 'sts presigned'],
    [await presigner(stsCreds()).signatureUrlV4('GET', 600, undefined, env('OSS_STS_KEY')), 'sts presigned'],
  ];
  for (const [url, want] of urls) {
    const res = await fetch(url);
    assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
    assert.equal(await res.text(), want);
    recordPresigned(url);
  }
  // The token reaches only its object, in a URL as in a header.
  const other = presigner(stsCreds()).signatureUrl(key, { expires: 600 });
  const res = await fetch(other);
  assert.equal(res.status, 403);
  assert.match(await res.text(), /<Code>AccessDenied<\/Code>/);
});
