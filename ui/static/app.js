// reupload ui: plain JavaScript, no build step, no third-party code.
// Everything the page shows comes from the local server's JSON API; text
// is always set with textContent, never parsed as HTML.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { media: null, file: null, page: 1, q: '', jobs: new Map() };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

function bytes(n) {
  if (n == null) return '?';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + ' ' + u[i];
}

function duration(s) {
  if (!s) return '–';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(r).padStart(2, '0');
}

function when(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? '' : d.toLocaleString();
}

async function api(method, url, body) {
  const opt = { method, headers: {} };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(url, opt);
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const msg = (data && data.error) || ('HTTP ' + r.status);
    const err = new Error(msg + (data && data.request_id ? ' (request id ' + data.request_id + ')' : ''));
    err.status = r.status;
    throw err;
  }
  return data;
}

// 1. Find the media.
async function search(page) {
  state.page = page;
  const st = $('#search-status');
  st.textContent = 'Searching…';
  try {
    const r = await api('GET', '/api/search?q=' + encodeURIComponent(state.q) + '&page=' + page);
    const tb = $('#results tbody');
    tb.replaceChildren();
    for (const m of r.media) {
      tb.append(el('tr', {},
        el('td', {}, m.title || '(untitled)'),
        el('td', { class: 'mono' }, m.media_id),
        el('td', {}, bytes(m.size)),
        el('td', {}, duration(m.duration)),
        el('td', {}, m.status || ''),
        el('td', {}, el('button', { type: 'button', 'aria-label': 'Choose ' + (m.title || m.media_id), onclick: () => chooseMedia(m) }, 'Choose'))));
    }
    $('#results').hidden = r.media.length === 0;
    st.textContent = r.total === 0 ? 'No media found.' : r.total + ' media found.';
    const pages = Math.max(1, Math.ceil(r.total / r.page_size));
    $('#pager').hidden = pages <= 1;
    $('#page-info').textContent = 'page ' + r.page + ' of ' + pages;
    $('#prev').disabled = r.page <= 1;
    $('#next').disabled = r.page >= pages;
  } catch (e) {
    st.textContent = 'Search failed: ' + e.message;
  }
}

// The choices survive a reload of the tab (sessionStorage, this tab only).
function remember() {
  sessionStorage.setItem('reupload', JSON.stringify({ q: state.q, media: state.media, file: state.file }));
}

function chooseMedia(m) {
  state.media = m;
  remember();
  const c = $('#chosen-media');
  c.replaceChildren(
    el('h3', {}, 'Media: ' + (m.title || '(untitled)')),
    el('dl', {},
      el('dt', {}, 'MediaId'), el('dd', { class: 'mono' }, m.media_id),
      el('dt', {}, 'Current file'), el('dd', {}, bytes(m.size) + (m.format ? ' (' + m.format.split(',')[0] + ')' : '')),
      el('dt', {}, 'Duration'), el('dd', {}, duration(m.duration)),
      el('dt', {}, 'Status'), el('dd', {}, m.status || '')));
  c.hidden = false;
  updateReplace();
}

// 2. Choose the new file.
async function browse(path) {
  const st = $('#browse-status');
  try {
    const r = await api('GET', '/api/files?path=' + encodeURIComponent(path));
    const crumbs = $('#crumbs');
    crumbs.replaceChildren(el('button', { type: 'button', class: 'link', onclick: () => browse('.') }, 'Home'));
    if (r.path !== '.') {
      let acc = '';
      for (const part of r.path.split('/')) {
        acc = acc ? acc + '/' + part : part;
        const p = acc;
        crumbs.append(' / ', el('button', { type: 'button', class: 'link', onclick: () => browse(p) }, part));
      }
    }
    const ul = $('#entries');
    ul.replaceChildren();
    if (r.parent) {
      ul.append(el('li', {}, el('button', { type: 'button', class: 'entry dir', onclick: () => browse(r.parent) }, '↑ Up to the parent folder')));
    }
    for (const e of r.entries) {
      if (e.dir) {
        ul.append(el('li', {}, el('button', { type: 'button', class: 'entry dir', 'aria-label': 'Folder ' + e.name, onclick: () => browse(e.path) },
          el('span', { class: 'name' }, el('span', { class: 'kind' }, 'folder'), e.name), el('span', { class: 'meta' }, when(e.modified)))));
      } else {
        ul.append(el('li', {}, el('button', { type: 'button', class: 'entry file', 'aria-label': 'File ' + e.name, onclick: () => chooseFile({ path: e.path }, e.path, e.size) },
          el('span', { class: 'name' }, el('span', { class: 'kind' }, 'media'), e.name), el('span', { class: 'meta' }, bytes(e.size) + ' · ' + when(e.modified)))));
      }
    }
    st.textContent = r.entries.length ? '' : 'No folders or media files here.';
  } catch (e) {
    st.textContent = 'Cannot open this folder: ' + e.message;
  }
}

function chooseFile(source, name, size) {
  state.file = { source, name, size };
  remember();
  const c = $('#chosen-file');
  c.replaceChildren(el('h3', {}, 'New file: ' + name), el('p', {}, bytes(size)));
  c.hidden = false;
  updateReplace();
}

function updateReplace() {
  const ok = state.media && state.file;
  $('#replace-source').disabled = !ok;
  $('#replace-hint').textContent = ok
    ? 'Replace the source of “' + (state.media.title || state.media.media_id) + '” with ' + state.file.name + '.'
    : 'Choose a media and a file first.';
}

// Drag and drop: the browser streams the file to the local server.
function setupDrop() {
  const d = $('#drop');
  const stop = (e) => { e.preventDefault(); e.stopPropagation(); };
  for (const t of ['dragenter', 'dragover']) d.addEventListener(t, (e) => { stop(e); d.classList.add('over'); });
  d.addEventListener('dragleave', (e) => { stop(e); d.classList.remove('over'); });
  // A file dropped beside the zone must not make the browser navigate away.
  for (const t of ['dragover', 'drop']) window.addEventListener(t, (e) => e.preventDefault());
  d.addEventListener('drop', async (e) => {
    stop(e);
    d.classList.remove('over');
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) await dropFile(f);
  });
}

async function dropFile(f) {
  const st = $('#drop-status');
  st.textContent = 'Copying ' + f.name + ' (' + bytes(f.size) + ') to this computer’s state folder…';
  try {
    const r = await fetch('/api/spool?name=' + encodeURIComponent(f.name), { method: 'POST', body: f });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || 'HTTP ' + r.status);
    st.textContent = 'Received ' + data.name + ' (' + bytes(data.size) + ').';
    chooseFile({ spool: data.id }, data.name + ' (dropped)', data.size);
  } catch (e) {
    st.textContent = 'Could not receive the file: ' + e.message;
  }
}

// 3. Replace, after a confirmation that repeats the preview and the guards.
async function confirmReplace() {
  const body = $('#confirm-body');
  body.replaceChildren(el('p', {}, 'Checking…'));
  const dlg = $('#confirm');
  $('#confirm-replace').disabled = true;
  dlg.showModal();
  let p;
  try {
    p = await api('POST', '/api/preview', { media_id: state.media.media_id, source: state.file.source });
  } catch (e) {
    body.replaceChildren(el('p', { class: 'bad' }, 'Cannot preview: ' + e.message));
    return;
  }
  const kids = [
    el('dl', {},
      el('dt', {}, 'Media'), el('dd', {}, (p.title || '(untitled)') + ' '), el('dd', { class: 'mono' }, p.media_id),
      el('dt', {}, 'Current file'), el('dd', {}, bytes(p.current_size) + ', ' + duration(p.duration) + ', status ' + p.status),
      el('dt', {}, 'New file'), el('dd', {}, p.source + ', ' + bytes(p.new_size))),
    el('p', {}, 'The MediaId stays the same. The old file stays whole until the upload completes; if the new file is identical, nothing is sent.'),
  ];
  if (p.problems && p.problems.length) {
    kids.push(el('h3', {}, 'Refused by the guards'), el('ul', { class: 'bad' }, ...p.problems.map((x) => el('li', {}, x.message + ' (' + x.code + ')'))));
  } else {
    kids.push(el('p', { class: 'good' }, 'Guards: not empty, not truncated-looking, looks like a media file.'));
  }
  if (p.warnings && p.warnings.length) {
    kids.push(el('h3', {}, 'Warnings'), el('ul', {}, ...p.warnings.map((x) => el('li', {}, x.message))));
  }
  body.replaceChildren(...kids);
  $('#confirm-replace').disabled = !!(p.problems && p.problems.length);
}

async function startReplace() {
  try {
    const j = await api('POST', '/api/jobs', { media_id: state.media.media_id, source: state.file.source });
    render(j);
    $('#replace-hint').textContent = 'Started. You can close this tab: the upload goes on, and shows again when you come back.';
  } catch (e) {
    $('#replace-hint').textContent = 'Could not start: ' + e.message;
  }
}

// 4. Watch: one card per upload, updated from Server-Sent Events.
const running = new Set(['queued', 'running', 'pausing', 'confirming']);

function render(j) {
  const old = state.jobs.get(j.id);
  if (old && old.version > j.version) return;
  state.jobs.set(j.id, j);
  let card = document.getElementById('job-' + j.id);
  if (!card) {
    card = el('article', { id: 'job-' + j.id, class: 'card job', 'aria-label': 'Upload of ' + (j.title || j.media_id) });
  }
  const p = j.progress || {};
  const pct = p.total > 0 ? Math.floor(p.done * 100 / p.total) : (j.state === 'done' || j.state === 'unchanged' ? 100 : 0);
  const bar = el('div', { class: 'bar', role: 'progressbar', 'aria-label': 'Progress of ' + (j.title || j.media_id),
    'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct), 'aria-valuetext': pct + '%' }, el('div', { class: 'fill' }));
  bar.firstChild.style.width = pct + '%';
  const facts = [
    bytes(p.done) + ' of ' + bytes(p.total) + ' (' + pct + '%)',
    p.rate ? bytes(Math.round(p.rate)) + '/s' : null,
    j.state === 'running' && p.eta_seconds ? 'ETA ' + duration(p.eta_seconds) : null,
    'parts ' + (p.parts_done || 0) + (p.parts ? ' of ' + p.parts : ''),
    (p.refreshes || 0) + ' credential refresh(es)',
    p.reused ? bytes(p.reused) + ' already on OSS' : null,
  ].filter(Boolean).join(' · ');
  const buttons = el('div', { class: 'buttons' });
  if (j.state === 'running' || j.state === 'queued') {
    buttons.append(el('button', { type: 'button', onclick: () => act('/api/jobs/' + j.id + '/pause') }, 'Pause'));
  }
  if (j.state === 'paused' || j.state === 'failed') {
    buttons.append(el('button', { type: 'button', onclick: () => act('/api/jobs/' + j.id + '/resume') }, 'Resume'));
  }
  card.replaceChildren(
    el('h3', {}, (j.title || '(untitled)') + ' ', el('span', { class: 'badge ' + j.state }, j.state)),
    el('p', { class: 'muted' }, el('span', { class: 'mono' }, j.media_id), ' ← ' + j.source),
    bar,
    el('p', { class: 'facts' }, facts),
    el('p', { class: 'status ' + j.state, role: 'status' }, j.message || ''),
    buttons);
  const home = running.has(j.state) || j.state === 'paused' ? $('#jobs') : $('#done-jobs');
  if (card.parentNode !== home) home.prepend(card);
  $('#uploads-empty').hidden = $('#jobs').children.length > 0;
  if (!old || old.state !== j.state) loadPending();
}

async function act(url) {
  try {
    render(await api('POST', url));
  } catch (e) {
    $('#uploads-empty').hidden = false;
    $('#uploads-empty').textContent = e.message;
  }
}

function listen() {
  const es = new EventSource('/api/events');
  es.addEventListener('job', (e) => render(JSON.parse(e.data)));
}

// 5. Unfinished uploads from the state folder.
async function loadPending() {
  const st = $('#pending-status');
  try {
    const list = await api('GET', '/api/pending');
    const ul = $('#pending');
    ul.replaceChildren();
    for (const p of list) {
      if (p.busy) continue;
      const li = el('li', { class: 'card' },
        el('span', { class: 'mono' }, p.media_id), ' ← ' + p.source + ' · ' + bytes(p.size) + ' · ' + bytes(p.confirmed) + ' sent · ' + when(p.updated) + ' ',
        el('button', { type: 'button', 'aria-label': 'Resume ' + p.media_id, onclick: () => act('/api/pending/' + p.media_id + '/resume') }, 'Resume'), ' ',
        el('button', { type: 'button', 'aria-label': 'Abort ' + p.media_id, onclick: () => abort(p.media_id) }, 'Abort'));
      ul.append(li);
    }
    st.textContent = ul.children.length ? '' : 'None.';
  } catch (e) {
    st.textContent = 'Cannot list unfinished uploads: ' + e.message;
  }
}

async function abort(id) {
  try {
    await api('POST', '/api/pending/' + id + '/abort');
    $('#pending-status').textContent = 'Aborted the upload of ' + id + '.';
  } catch (e) {
    $('#pending-status').textContent = 'Abort failed: ' + e.message;
  }
  loadPending();
}

document.addEventListener('DOMContentLoaded', async () => {
  $('#search-form').addEventListener('submit', (e) => { e.preventDefault(); state.q = $('#search-q').value.trim(); remember(); search(1); });
  try {
    const saved = JSON.parse(sessionStorage.getItem('reupload') || '{}');
    if (saved.q) { state.q = saved.q; $('#search-q').value = saved.q; search(1); }
    if (saved.media) chooseMedia(saved.media);
    if (saved.file) chooseFile(saved.file.source, saved.file.name, saved.file.size);
  } catch (e) { /* nothing saved */ }
  $('#prev').addEventListener('click', () => search(state.page - 1));
  $('#next').addEventListener('click', () => search(state.page + 1));
  $('#replace-source').addEventListener('click', confirmReplace);
  $('#confirm').addEventListener('close', () => { if ($('#confirm').returnValue === 'replace') startReplace(); });
  setupDrop();
  browse('.');
  loadPending();
  try {
    for (const j of await api('GET', '/api/jobs')) render(j);
  } catch (e) { /* the event stream brings them too */ }
  listen();
});
