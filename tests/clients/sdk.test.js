// The official Directus SDK, unchanged, against our server: every call the issue lists, then
// the same calls during maintenance, which must reject with the operator's message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createDirectus, rest, staticToken, readItems, readItem, createItem, createItems, updateItem,
  updateItems, deleteItem, deleteItems, serverPing, isDirectusError,
} from '@directus/sdk';
import { startServer } from './harness.js';

const TOKEN = 'sdk-test-token';
let server;
let client;

before(async () => {
  server = await startServer(['--token', TOKEN]);
  client = createDirectus(server.url).with(staticToken(TOKEN)).with(rest());
  const res = await fetch(`${server.url}/collections`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ collection: 'articles' }),
  });
  assert.equal(res.status, 200);
});

after(async () => server?.stop());

test('the SDK reads and writes items', async () => {
  assert.equal(await client.request(serverPing()), 'pong');
  const one = await client.request(createItem('articles', { title: 'Hello', views: 10 }));
  assert.deepEqual(one, { id: 1, title: 'Hello', views: 10 });
  const many = await client.request(createItems('articles', [
    { title: 'Popular', views: 900 }, { title: 'Viral', views: 5000 }, { title: 'Quiet', views: 3 },
  ]));
  assert.deepEqual(many.map((i) => i.id), [2, 3, 4]);

  const popular = await client.request(readItems('articles', {
    filter: { views: { _gt: 500 } }, sort: ['-views'], fields: ['id', 'title'], limit: 10,
  }));
  assert.deepEqual(popular, [{ id: 3, title: 'Viral' }, { id: 2, title: 'Popular' }]);
  const either = await client.request(readItems('articles', {
    filter: { _or: [{ views: { _lt: 5 } }, { title: { _icontains: 'HELL' } }] }, fields: ['id'],
  }));
  assert.deepEqual(either.map((i) => i.id), [1, 4]);
  assert.deepEqual(await client.request(readItem('articles', 2)), { id: 2, title: 'Popular', views: 900 });

  assert.equal((await client.request(updateItem('articles', 1, { views: 11 }))).views, 11);
  const byKeys = await client.request(updateItems('articles', [1, 2], { featured: true }));
  assert.deepEqual(byKeys.map((i) => [i.id, i.featured]), [[1, true], [2, true]]);
  const byQuery = await client.request(updateItems('articles', { filter: { views: { _lt: 5 } } }, { quiet: true }));
  assert.deepEqual(byQuery.map((i) => i.id), [4]);

  await client.request(deleteItem('articles', 4));
  await client.request(deleteItems('articles', [3]));
  await client.request(deleteItems('articles', { filter: { featured: { _eq: true } } }));
  assert.deepEqual(await client.request(readItems('articles')), []);

  // A missing item is the Directus FORBIDDEN error, which the SDK recognises.
  await assert.rejects(client.request(readItem('articles', 99)), (err) => {
    assert.ok(isDirectusError(err));
    assert.equal(err.errors[0].extensions.code, 'FORBIDDEN');
    return true;
  });
});

test('during maintenance every call but ping rejects with the operator message', async () => {
  await client.request(createItem('articles', { title: 'Before' }));
  server.cli('maintenance:on', '--message', 'Upgrading the database, back at 10:30', '--retry', '300');
  const calls = {
    readItems: readItems('articles'),
    readItem: readItem('articles', 1),
    createItem: createItem('articles', { title: 'x' }),
    createItems: createItems('articles', [{ title: 'x' }]),
    updateItem: updateItem('articles', 1, { title: 'x' }),
    updateItemsKeys: updateItems('articles', [1], { title: 'x' }),
    updateItemsQuery: updateItems('articles', { filter: { id: { _eq: 1 } } }, { title: 'x' }),
    deleteItem: deleteItem('articles', 1),
    deleteItemsKeys: deleteItems('articles', [1]),
    deleteItemsQuery: deleteItems('articles', { filter: { id: { _eq: 1 } } }),
  };
  for (const [name, command] of Object.entries(calls)) {
    await assert.rejects(client.request(command), (err) => {
      assert.ok(isDirectusError(err), `${name}: not a Directus error: ${JSON.stringify(err)}`);
      const [first] = err.errors;
      assert.equal(first.extensions.code, 'SERVICE_UNAVAILABLE', name);
      assert.equal(first.message, 'Upgrading the database, back at 10:30', name);
      assert.equal(first.extensions.retry_after, 300, name);
      assert.equal(err.response.status, 503, name);
      return true;
    }, name);
  }
  assert.equal(await client.request(serverPing()), 'pong');
  server.cli('maintenance:off');
  const after = await client.request(readItems('articles'));
  assert.deepEqual(after.map((i) => i.title), ['Before']);
});

test('in read-only mode the SDK reads items and a create is declined', async () => {
  await client.request(createItem('articles', { title: 'Kept' }));
  const on = server.cli('maintenance:on', '--read-only', '--bypass', '--message', 'Backing up, reads only');
  const secret = on.match(/^bypass secret: (\S+)$/m)[1];
  const titles = (await client.request(readItems('articles', { sort: ['id'] }))).map((i) => i.title);
  assert.ok(titles.includes('Kept'), JSON.stringify(titles));
  const [first] = await client.request(readItems('articles', { filter: { title: { _eq: 'Kept' } } }));
  assert.deepEqual(await client.request(readItem('articles', first.id)), first);
  for (const [name, command] of Object.entries({
    createItem: createItem('articles', { title: 'x' }),
    updateItem: updateItem('articles', first.id, { title: 'x' }),
    deleteItem: deleteItem('articles', first.id),
  })) {
    await assert.rejects(client.request(command), (err) => {
      assert.ok(isDirectusError(err), `${name}: not a Directus error: ${JSON.stringify(err)}`);
      assert.equal(err.errors[0].extensions.code, 'SERVICE_UNAVAILABLE', name);
      assert.equal(err.errors[0].extensions.reason, 'read_only', name);
      assert.equal(err.errors[0].message, 'Backing up, reads only', name);
      assert.equal(err.response.status, 503, name);
      return true;
    }, name);
  }
  // The operator's check: a client that adds the bypass header to every request writes (it
  // still sends its token, which the server still checks).
  const operator = createDirectus(server.url).with(staticToken(TOKEN)).with(rest({
    onRequest: (options) => ({
      ...options, headers: { ...options.headers, 'X-Maintenance-Bypass': secret },
    }),
  }));
  const made = await operator.request(createItem('articles', { title: 'By the operator' }));
  assert.equal(made.title, 'By the operator');
  const noToken = createDirectus(server.url).with(rest({
    onRequest: (options) => ({
      ...options, headers: { ...options.headers, 'X-Maintenance-Bypass': secret },
    }),
  }));
  await assert.rejects(noToken.request(createItem('articles', { title: 'x' })), (err) => {
    assert.equal(err.errors[0].extensions.code, 'FORBIDDEN');
    return true;
  });
  server.cli('maintenance:off');
  const after = (await client.request(readItems('articles'))).map((i) => i.title);
  assert.ok(after.includes('By the operator') && !after.includes('x'), JSON.stringify(after));
});
