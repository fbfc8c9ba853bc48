/* sealkit sealing page.
 *
 * Seals a Kubernetes Secret in the browser, with WebCrypto, in the Bitnami SealedSecret format
 * (bitnami-labs/sealed-secrets pkg/crypto/crypto.go HybridEncrypt), one envelope per item:
 *
 *   session_key = 32 random bytes (a fresh AES-256-GCM key)
 *   rsa_ct      = RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session_key)
 *   aes_ct      = AES-256-GCM(session_key, nonce = 12 zero bytes, no AAD)(value) || tag
 *   blob        = u16 big-endian len(rsa_ct) || rsa_ct || aes_ct, stored base64
 *
 *   label: strict "<namespace>/<name>", namespace-wide "<namespace>", cluster-wide "".
 *
 * No value ever leaves the page: the only requests are GET v1/cert.pem (the certificate) and,
 * when asked, POST v1/verify with the sealed output. Inputs carry no `name` attribute, so even a
 * native form submission (which the CSP forbids anyway) would carry nothing.
 */
(function () {
  'use strict';

  const CLUSTER_WIDE = 'sealedsecrets.bitnami.com/cluster-wide';
  const NAMESPACE_WIDE = 'sealedsecrets.bitnami.com/namespace-wide';
  const LAST_APPLIED = [
    'kubectl.kubernetes.io/last-applied-configuration',
    'kubecfg.ksonnet.io/last-applied-configuration',
  ];
  /** Kubernetes refuses Secrets larger than 1 MiB. */
  const MAX_SECRET_BYTES = 1024 * 1024;
  /** Largest certificate or existing SealedSecret read (checked before reading). */
  const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
  const RSA_ENCRYPTION_OID = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
  const ITEM_KEY = /^[-._a-zA-Z0-9]+$/;
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  const SCOPE_HINTS = {
    'strict': 'Only this name in this namespace can decrypt it.',
    'namespace-wide': 'Any name in this namespace can decrypt it.',
    'cluster-wide': 'Any name in any namespace can decrypt it.',
  };

  const $ = (id) => document.getElementById(id);
  const encoder = new TextEncoder();

  /** A problem with the user's input, shown next to the field it names. */
  class InputError extends Error {
    constructor(message, field) {
      super(message);
      this.field = field || null;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Bytes.

  function toBase64(bytes) {
    let text = '';
    const chunk = 0x8000;
    for (let i = 0; i < bytes.length; i += chunk) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
    }
    return btoa(text);
  }

  function fromBase64(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ---------------------------------------------------------------------------------------
  // Certificates: a DER reader for the few fields the page needs (X.509, RFC 5280 §4.1).

  /** Reads the DER TLV at `offset`, which must end by `limit`. */
  function readTlv(der, offset, limit) {
    if (offset + 2 > limit) throw new InputError('the certificate is truncated');
    const tag = der[offset];
    let length = der[offset + 1];
    let header = 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4 || offset + 2 + count > limit) {
        throw new InputError('the certificate is not valid DER');
      }
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i];
      header += count;
    }
    const start = offset + header;
    const end = start + length;
    if (end > limit) throw new InputError('the certificate is truncated');
    return { tag, offset, start, end };
  }

  function childrenOf(der, parent) {
    const out = [];
    for (let at = parent.start; at < parent.end;) {
      const child = readTlv(der, at, parent.end);
      out.push(child);
      at = child.end;
    }
    return out;
  }

  function expectTag(tlv, tag, what) {
    if (!tlv || tlv.tag !== tag) throw new InputError('the certificate has no valid ' + what);
    return tlv;
  }

  /** UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
  function readTime(der, tlv) {
    const text = String.fromCharCode.apply(null, der.subarray(tlv.start, tlv.end));
    let match;
    let year;
    if (tlv.tag === 0x17 && (match = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
      const yy = Number(match[1]);
      year = yy < 50 ? 2000 + yy : 1900 + yy;
    } else if (tlv.tag === 0x18 && (match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
      year = Number(match[1]);
    } else {
      throw new InputError('the certificate has an unreadable validity time');
    }
    const [, , mo, d, h, mi, s] = match.map(Number);
    return new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  }

  /** The SubjectPublicKeyInfo (DER) and validity of a DER certificate. */
  function parseCertificate(der) {
    const cert = expectTag(readTlv(der, 0, der.length), 0x30, 'structure');
    const tbs = expectTag(childrenOf(der, cert)[0], 0x30, 'to-be-signed part');
    const fields = childrenOf(der, tbs);
    const first = fields[0] && fields[0].tag === 0xa0 ? 1 : 0; // [0] version
    const validity = expectTag(fields[first + 3], 0x30, 'validity');
    const spki = expectTag(fields[first + 5], 0x30, 'public key');
    const times = childrenOf(der, validity);
    if (times.length !== 2) throw new InputError('the certificate has no valid validity');
    const algorithm = expectTag(childrenOf(der, spki)[0], 0x30, 'key algorithm');
    const oid = expectTag(childrenOf(der, algorithm)[0], 0x06, 'key algorithm');
    const oidBytes = der.subarray(oid.start, oid.end);
    if (oidBytes.length !== RSA_ENCRYPTION_OID.length ||
        RSA_ENCRYPTION_OID.some((b, i) => oidBytes[i] !== b)) {
      throw new InputError('the certificate does not carry an RSA key');
    }
    return {
      spki: der.slice(spki.offset, spki.end),
      notBefore: readTime(der, times[0]),
      notAfter: readTime(der, times[1]),
    };
  }

  function pemToDer(text) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
      throw new InputError('this is a private key: the page needs only the certificate', 'cert-pem');
    }
    const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
    if (!match) throw new InputError('no PEM certificate (-----BEGIN CERTIFICATE-----) found', 'cert-pem');
    const body = match[1].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
      throw new InputError('the PEM certificate is not valid base64', 'cert-pem');
    }
    return fromBase64(body);
  }

  /**
   * Imports a PEM certificate's RSA key for sealing. The fingerprint is the controller's:
   * "SHA256:" and the hex SHA-256 of the DER SubjectPublicKeyInfo.
   */
  async function loadCertificate(pem) {
    const parsed = parseCertificate(pemToDer(pem));
    let key;
    try {
      key = await crypto.subtle.importKey(
        'spki', parsed.spki, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['wrapKey']);
    } catch (e) {
      throw new InputError('the certificate\'s RSA key cannot be used for RSA-OAEP');
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', parsed.spki));
    return {
      key,
      bits: key.algorithm.modulusLength,
      fingerprint: 'SHA256:' + toHex(digest),
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
    };
  }

  // ---------------------------------------------------------------------------------------
  // Sealing.

  function labelFor(scope, namespace, name) {
    if (scope === 'strict') return encoder.encode(namespace + '/' + name);
    if (scope === 'namespace-wide') return encoder.encode(namespace);
    return new Uint8Array(0);
  }

  /** One value into one base64 blob (the envelope in the header of this file). */
  async function sealValue(publicKey, label, plaintext) {
    const sessionKey = await crypto.subtle.generateKey(
      { name: 'AES-GCM', length: 256 }, true, ['encrypt']);
    const rsa = new Uint8Array(await crypto.subtle.wrapKey(
      'raw', sessionKey, publicKey, { name: 'RSA-OAEP', label }));
    // The zero nonce is safe only because every session key encrypts exactly one value.
    const aes = new Uint8Array(await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 128 }, sessionKey, plaintext));
    const blob = new Uint8Array(2 + rsa.length + aes.length);
    blob[0] = rsa.length >> 8;
    blob[1] = rsa.length & 0xff;
    blob.set(rsa, 2);
    blob.set(aes, 2 + rsa.length);
    return toBase64(blob);
  }

  async function sealItems(publicKey, label, items) {
    const keys = Array.from(items.keys()).sort();
    const blobs = await Promise.all(keys.map((k) => sealValue(publicKey, label, items.get(k))));
    const out = {};
    keys.forEach((k, i) => { out[k] = blobs[i]; });
    return out;
  }

  function sortedObject(object) {
    const out = {};
    for (const k of Object.keys(object).sort()) out[k] = object[k];
    return out;
  }

  /** The SealedSecret object, shaped as `seal` writes it (sealer::sealed::convert). */
  function sealedSecret(form, encryptedData) {
    const scopeAnnotations = {};
    if (form.scope === 'cluster-wide') scopeAnnotations[CLUSTER_WIDE] = 'true';
    if (form.scope === 'namespace-wide') scopeAnnotations[NAMESPACE_WIDE] = 'true';
    const annotations = Object.assign({}, form.annotations);
    for (const k of [CLUSTER_WIDE, NAMESPACE_WIDE].concat(LAST_APPLIED)) delete annotations[k];
    Object.assign(annotations, scopeAnnotations);
    const metadata = { name: form.name, namespace: form.namespace };
    if (Object.keys(scopeAnnotations).length) metadata.annotations = scopeAnnotations;
    const templateMetadata = { name: form.name, namespace: form.namespace };
    if (Object.keys(form.labels).length) templateMetadata.labels = form.labels;
    if (Object.keys(annotations).length) templateMetadata.annotations = sortedObject(annotations);
    const template = { metadata: templateMetadata, type: form.type };
    if (form.immutable) template.immutable = true;
    return {
      apiVersion: 'bitnami.com/v1alpha1',
      kind: 'SealedSecret',
      metadata,
      spec: { encryptedData, template },
    };
  }

  // ---------------------------------------------------------------------------------------
  // Existing SealedSecrets (merge into).

  /** The scope a SealedSecret's own top-level annotations give (exactly "true"). */
  function scopeOf(metadata) {
    const annotations = (metadata && metadata.annotations) || {};
    if (annotations[CLUSTER_WIDE] === 'true') return 'cluster-wide';
    if (annotations[NAMESPACE_WIDE] === 'true') return 'namespace-wide';
    return 'strict';
  }

  function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  function parseExisting(text) {
    if (!text.trim()) throw new InputError('paste the existing SealedSecret', 'merge-input');
    if (text.length > MAX_DOCUMENT_BYTES) {
      throw new InputError('the existing SealedSecret is larger than 4 MiB', 'merge-input');
    }
    let docs;
    try {
      docs = window.jsyaml.loadAll(text).filter((d) => d !== null && d !== undefined);
    } catch (e) {
      throw new InputError('the existing SealedSecret is not valid YAML or JSON: ' +
        String(e.reason || e.message).split('\n')[0], 'merge-input');
    }
    if (docs.length !== 1) throw new InputError('paste exactly one SealedSecret', 'merge-input');
    const doc = docs[0];
    if (!isObject(doc) || doc.kind !== 'SealedSecret') {
      throw new InputError('the document is not a SealedSecret (kind: SealedSecret)', 'merge-input');
    }
    const meta = doc.metadata;
    if (!isObject(meta) || typeof meta.name !== 'string' || !meta.name ||
        typeof meta.namespace !== 'string' || !meta.namespace) {
      throw new InputError('the SealedSecret needs metadata.name and metadata.namespace', 'merge-input');
    }
    if (doc.spec !== undefined && !isObject(doc.spec)) {
      throw new InputError('the SealedSecret has an invalid spec', 'merge-input');
    }
    const spec = doc.spec || {};
    if (spec.data !== undefined && spec.data !== null) {
      throw new InputError('the SealedSecret uses the legacy spec.data format: re-seal it first', 'merge-input');
    }
    if (spec.encryptedData !== undefined && spec.encryptedData !== null && !isObject(spec.encryptedData)) {
      throw new InputError('the SealedSecret has an invalid spec.encryptedData', 'merge-input');
    }
    return { doc, name: meta.name, namespace: meta.namespace, scope: scopeOf(meta) };
  }

  // ---------------------------------------------------------------------------------------
  // The page.

  const state = {
    server: 'file',
    cert: null,
    certError: null,
    rows: [],
    output: null, // { yaml, json, raw, name }
  };

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function setStatus(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.classList.toggle('ok', kind === 'ok');
    el.classList.toggle('bad', kind === 'bad');
  }

  function showError(error) {
    for (const el of document.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
    const box = $('error');
    if (!error) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    box.hidden = false;
    box.textContent = error.message;
    if (error.field && $(error.field)) {
      const field = $(error.field);
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  // --- item rows ---

  function makeRow() {
    const row = document.createElement('div');
    row.className = 'row';
    const keyField = field('Key', 'input');
    keyField.control.type = 'text';
    const valueField = field('Value', 'textarea');
    valueField.control.rows = 1;
    valueField.control.classList.add('secret-value');
    const fileField = field('Value from a file', 'input');
    fileField.control.type = 'file';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    keyField.wrap.classList.add('row-key');
    valueField.wrap.classList.add('row-value');
    fileField.wrap.classList.add('row-file');
    remove.className = 'row-remove';
    const note = document.createElement('p');
    note.className = 'note file-note';
    note.hidden = true;
    row.append(keyField.wrap, valueField.wrap, fileField.wrap, remove, note);
    const entry = {
      row, key: keyField.control, keyLabel: keyField.label, value: valueField.control,
      valueLabel: valueField.label, file: fileField.control, fileLabel: fileField.label, remove, note,
    };
    fileField.control.addEventListener('change', () => onRowFile(entry));
    remove.addEventListener('click', () => removeRow(entry));
    return entry;
  }

  function field(text, tag) {
    const wrap = document.createElement('div');
    wrap.className = 'field';
    const label = document.createElement('label');
    label.textContent = text;
    const control = document.createElement(tag);
    control.spellcheck = false;
    control.setAttribute('autocapitalize', 'off');
    control.setAttribute('autocomplete', 'off');
    wrap.append(label, control);
    return { wrap, label, control };
  }

  /** Gives rows the ids key-N, value-N, file-N, remove-N, N counted from 0 in order. */
  function renumber() {
    state.rows.forEach((r, i) => {
      const n = i + 1;
      r.row.id = 'row-' + i;
      r.key.id = 'key-' + i;
      r.value.id = 'value-' + i;
      r.file.id = 'file-' + i;
      r.remove.id = 'remove-' + i;
      r.note.id = 'file-note-' + i;
      r.keyLabel.htmlFor = r.key.id;
      r.valueLabel.htmlFor = r.value.id;
      r.fileLabel.htmlFor = r.file.id;
      r.keyLabel.textContent = 'Key ' + n;
      r.valueLabel.textContent = 'Value ' + n;
      r.fileLabel.textContent = 'Value ' + n + ' from a file';
      r.remove.setAttribute('aria-label', 'Remove item ' + n);
      r.remove.hidden = state.rows.length === 1;
    });
  }

  function addRow(focus) {
    const entry = makeRow();
    state.rows.push(entry);
    $('rows').append(entry.row);
    renumber();
    if (focus) entry.key.focus();
    return entry;
  }

  function removeRow(entry) {
    const i = state.rows.indexOf(entry);
    if (i < 0 || state.rows.length === 1) return;
    state.rows.splice(i, 1);
    entry.row.remove();
    renumber();
    const next = state.rows[Math.min(i, state.rows.length - 1)];
    next.key.focus();
    setStatus('status', 'Item ' + (i + 1) + ' removed.');
  }

  function onRowFile(entry) {
    const file = entry.file.files[0];
    if (file) {
      entry.value.disabled = true;
      entry.value.value = '';
      entry.note.hidden = false;
      entry.note.textContent = 'Value ' + (state.rows.indexOf(entry) + 1) + ' comes from ' +
        file.name + ' (' + file.size + ' bytes).';
    } else {
      entry.value.disabled = false;
      entry.note.hidden = true;
      entry.note.textContent = '';
    }
  }

  // --- certificate ---

  function showCertificate() {
    const cert = state.cert;
    show('cert-info', !!cert);
    const warning = $('cert-warning');
    if (!cert) {
      warning.hidden = !state.certError;
      warning.textContent = state.certError || '';
      return;
    }
    $('cert-fingerprint').textContent = cert.fingerprint;
    $('cert-key').textContent = 'RSA-' + cert.bits;
    $('cert-expiry').textContent = formatDate(cert.notAfter);
    const now = new Date();
    let text = '';
    if (now > cert.notAfter) {
      text = 'This certificate expired on ' + formatDate(cert.notAfter) + '. The controller ' +
        'may have renewed its key: seal with its current certificate if you can.';
    } else if (now < cert.notBefore) {
      text = 'This certificate is not valid before ' + formatDate(cert.notBefore) +
        ': check the clock of this computer.';
    }
    warning.hidden = !text;
    warning.textContent = text;
  }

  function formatDate(date) {
    return date.toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
  }

  async function useCertificate(pemPromise, source) {
    state.cert = null;
    state.certError = null;
    showCertificate();
    try {
      const pem = await pemPromise;
      state.cert = await loadCertificate(pem);
      setStatus('status', 'Certificate ' + state.cert.fingerprint + ' loaded from ' + source + '.');
    } catch (e) {
      state.certError = 'No certificate: ' + e.message + '.';
    }
    showCertificate();
  }

  async function fetchServerCertificate() {
    const response = await fetch('v1/cert.pem', {
      cache: 'no-store', credentials: 'same-origin', redirect: 'error',
    });
    if (!response.ok) throw new InputError('the server answered ' + response.status);
    const text = await response.text();
    if (text.length > MAX_DOCUMENT_BYTES) throw new InputError('the certificate is too large');
    return text;
  }

  async function readFileText(input, what) {
    const file = input.files[0];
    if (!file) return '';
    if (file.size > MAX_DOCUMENT_BYTES) throw new InputError(what + ' is larger than 4 MiB', input.id);
    return file.text();
  }

  function onCertSource() {
    const fromServer = $('cert-source-controller').checked;
    show('cert-pem-fields', !fromServer);
    if (fromServer) {
      useCertificate(fetchServerCertificate(), 'the server');
    } else if ($('cert-pem').value.trim()) {
      useCertificate(Promise.resolve($('cert-pem').value), 'the pasted PEM');
    } else {
      state.cert = null;
      state.certError = null;
      showCertificate();
    }
  }

  // --- modes ---

  function mergeOn() {
    return $('merge').checked;
  }

  function rawOn() {
    return $('raw').checked;
  }

  function onModes() {
    const merge = mergeOn();
    const raw = rawOn();
    show('merge-fields', merge);
    show('type-field', !merge && !raw);
    show('metadata-fields', !merge && !raw);
    show('add-row', !raw);
    show('format-fields', !raw);
    const type = $('type').value;
    show('basic-auth-fields', !merge && !raw && type === 'kubernetes.io/basic-auth');
    show('docker-fields', !merge && !raw && type === 'kubernetes.io/dockerconfigjson');
    show('tls-fields', !merge && !raw && type === 'kubernetes.io/tls');
    state.rows.forEach((r, i) => { r.row.hidden = raw && i > 0; });
    $('items-legend').textContent = raw ? 'Value' : 'Items';
    for (const id of ['name', 'namespace']) $(id).readOnly = merge;
    $('scope').disabled = merge;
    if (merge) onMergeInput();
    else $('merge-info').textContent = '';
  }

  function onMergeInput() {
    const text = $('merge-input').value;
    if (!text.trim()) {
      $('merge-info').textContent = 'Paste or choose the SealedSecret to add items to.';
      return;
    }
    try {
      const existing = parseExisting(text);
      $('name').value = existing.name;
      $('namespace').value = existing.namespace;
      $('scope').value = existing.scope;
      onScope();
      const items = Object.keys(existing.doc.spec && existing.doc.spec.encryptedData || {});
      $('merge-info').textContent = 'Adds items to ' + existing.namespace + '/' + existing.name +
        ' (' + existing.scope + '), which holds ' + items.length + ' item' +
        (items.length === 1 ? '' : 's') + (items.length ? ': ' + items.join(', ') : '') + '.';
    } catch (e) {
      $('merge-info').textContent = e.message + '.';
    }
  }

  function onScope() {
    $('scope-hint').textContent = SCOPE_HINTS[$('scope').value] || '';
  }

  // --- reading the form ---

  function parsePairs(id, what) {
    const out = {};
    $(id).value.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      const at = line.indexOf('=');
      if (at <= 0) throw new InputError(what + ' line ' + (i + 1) + ' is not key=value', id);
      out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    });
    return out;
  }

  function checkItemKey(key, field) {
    if (key.length > 253 || !ITEM_KEY.test(key) || key === '.' || key === '..' || key.startsWith('..')) {
      throw new InputError('item key "' + key + '" is not valid: use letters, digits, "-", "_" and "."', field);
    }
  }

  async function fileBytes(input, what) {
    const file = input.files[0];
    if (!file) return null;
    if (file.size > MAX_SECRET_BYTES) {
      throw new InputError(what + ' is larger than the 1 MiB a Secret can hold', input.id);
    }
    return new Uint8Array(await file.arrayBuffer());
  }

  /** The items to seal, by key: the type's helper first, then the rows. */
  async function collectItems(helpers) {
    const items = new Map();
    const add = (key, bytes, fieldId) => {
      if (items.has(key)) throw new InputError('item "' + key + '" is given twice', fieldId);
      items.set(key, bytes);
    };
    if (helpers) {
      const type = $('type').value;
      if (type === 'kubernetes.io/basic-auth') {
        if (!$('basic-username').value && !$('basic-password').value) {
          throw new InputError('give the username and the password', 'basic-username');
        }
        add('username', encoder.encode($('basic-username').value), 'basic-username');
        add('password', encoder.encode($('basic-password').value), 'basic-password');
      } else if (type === 'kubernetes.io/dockerconfigjson') {
        const server = $('docker-server').value.trim();
        const username = $('docker-username').value;
        const password = $('docker-password').value;
        if (!server) throw new InputError('give the registry', 'docker-server');
        if (!username) throw new InputError('give the registry username', 'docker-username');
        // As `kubectl create secret docker-registry` writes it.
        const entry = { username, password };
        if ($('docker-email').value) entry.email = $('docker-email').value;
        entry.auth = toBase64(encoder.encode(username + ':' + password));
        add('.dockerconfigjson', encoder.encode(JSON.stringify({ auths: { [server]: entry } })), 'docker-server');
      } else if (type === 'kubernetes.io/tls') {
        const crt = await fileBytes($('tls-crt-file'), 'tls.crt');
        const key = await fileBytes($('tls-key-file'), 'tls.key');
        if (!crt) throw new InputError('choose the tls.crt file', 'tls-crt-file');
        if (!key) throw new InputError('choose the tls.key file', 'tls-key-file');
        add('tls.crt', crt, 'tls-crt-file');
        add('tls.key', key, 'tls-key-file');
      }
    }
    for (let i = 0; i < state.rows.length; i++) {
      const r = state.rows[i];
      const key = r.key.value;
      const fromFile = await fileBytes(r.file, 'the file of item ' + (i + 1));
      const bytes = fromFile || encoder.encode(r.value.value);
      if (!key && !fromFile && !r.value.value) continue;
      if (!key) throw new InputError('item ' + (i + 1) + ' has a value but no key', r.key.id);
      checkItemKey(key, r.key.id);
      add(key, bytes, r.key.id);
    }
    let total = 0;
    for (const bytes of items.values()) total += bytes.length;
    if (total > MAX_SECRET_BYTES) throw new InputError('the items add up to more than the 1 MiB a Secret can hold');
    return items;
  }

  /** Name, namespace and scope; raw mode asks only for what the scope's label holds. */
  function readIdentity(raw) {
    const name = $('name').value;
    const namespace = $('namespace').value;
    const scope = $('scope').value;
    const needName = !raw || scope === 'strict';
    const needNamespace = !raw || scope !== 'cluster-wide';
    if (needName && !name) throw new InputError('give the Secret a name', 'name');
    if (name && (name.length > 253 || !DNS_SUBDOMAIN.test(name))) {
      throw new InputError('the name must be lower-case letters, digits, "-" and "."', 'name');
    }
    if (needNamespace && !namespace) throw new InputError('give the namespace', 'namespace');
    if (namespace && (namespace.length > 63 || !DNS_LABEL.test(namespace))) {
      throw new InputError('the namespace must be lower-case letters, digits and "-"', 'namespace');
    }
    return { name, namespace, scope };
  }

  // --- sealing ---

  async function seal() {
    showError(null);
    setStatus('validate-result', '');
    if (!window.crypto || !crypto.subtle) {
      throw new InputError('WebCrypto is not available: open this page over https, from localhost or from a file');
    }
    if (!state.cert) {
      throw new InputError(state.certError || 'no certificate yet: choose one first',
        $('cert-source-pem').checked ? 'cert-pem' : null);
    }
    const started = performance.now();
    const merge = mergeOn();
    const raw = rawOn();
    const existing = merge ? parseExisting($('merge-input').value) : null;
    const id = existing || readIdentity(raw);
    const label = labelFor(id.scope, id.namespace, id.name);
    let result;
    if (raw) {
      const r = state.rows[0];
      const fromFile = await fileBytes(r.file, 'the file of the value');
      const value = fromFile || encoder.encode(r.value.value);
      if (!fromFile && !r.value.value) throw new InputError('give the value to seal', r.value.id);
      const blob = await sealValue(state.cert.key, label, value);
      result = { raw: blob, yaml: blob, json: '', name: id.name || 'sealed-value', count: 1 };
    } else {
      const items = await collectItems(!merge);
      if (items.size === 0) throw new InputError('give at least one item', state.rows[0].key.id);
      const sealed = await sealItems(state.cert.key, label, items);
      let object;
      if (existing) {
        object = existing.doc;
        object.spec = object.spec || {};
        object.spec.encryptedData = sortedObject(Object.assign({}, object.spec.encryptedData || {}, sealed));
      } else {
        object = sealedSecret({
          name: id.name, namespace: id.namespace, scope: id.scope, type: $('type').value,
          labels: parsePairs('labels', 'labels'),
          annotations: parsePairs('annotations', 'annotations'),
          immutable: $('immutable').checked,
        }, sealed);
      }
      result = {
        yaml: '---\n' + window.jsyaml.dump(object, { lineWidth: -1, noRefs: true }),
        json: JSON.stringify(object, null, 2) + '\n',
        raw: null,
        name: id.name,
        count: items.size,
      };
    }
    const elapsed = performance.now() - started;
    state.output = result;
    $('output').value = result.yaml;
    $('output-json').value = result.json;
    $('output').dataset.sealMs = elapsed.toFixed(1);
    $('output').dataset.items = String(result.count);
    $('output-label').textContent = raw ? 'Sealed value (base64)' : 'SealedSecret (YAML)';
    onFormat();
    for (const b of ['copy', 'download']) $(b).disabled = false;
    $('validate').disabled = !(state.server === 'controller' && !raw);
    const what = raw ? 'the value' : result.count + ' item' + (result.count === 1 ? '' : 's');
    const target = id.scope === 'cluster-wide' && raw ? 'any namespace' : id.namespace + '/' + (id.name || '*');
    setStatus('status', 'Sealed ' + what + ' for ' + target + ' (' + id.scope +
      ') with ' + state.cert.fingerprint.slice(0, 19) + '… in ' + Math.round(elapsed) + ' ms.', 'ok');
  }

  function onFormat() {
    const json = $('format-json').checked && !rawOn() && !!state.output && !state.output.raw;
    show('output-yaml-field', !json);
    show('output-json-field', json);
  }

  function currentOutput() {
    if (!state.output) return null;
    if (state.output.raw) return { text: state.output.raw, file: state.output.name + '.sealed.txt', type: 'text/plain' };
    if ($('format-json').checked) {
      return { text: state.output.json, file: state.output.name + '.sealedsecret.json', type: 'application/json' };
    }
    return { text: state.output.yaml, file: state.output.name + '.sealedsecret.yaml', type: 'application/yaml' };
  }

  async function copyOutput() {
    const out = currentOutput();
    if (!out) return;
    try {
      await navigator.clipboard.writeText(out.text);
    } catch (e) {
      const area = $('format-json').checked && !state.output.raw ? $('output-json') : $('output');
      area.select();
      if (!document.execCommand('copy')) {
        setStatus('status', 'Could not copy: select the output and copy it by hand.', 'bad');
        return;
      }
    }
    setStatus('status', 'Copied to the clipboard.', 'ok');
  }

  function downloadOutput() {
    const out = currentOutput();
    if (!out) return;
    const url = URL.createObjectURL(new Blob([out.text], { type: out.type }));
    const link = document.createElement('a');
    link.href = url;
    link.download = out.file;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    setStatus('status', 'Downloaded ' + out.file + '.', 'ok');
  }

  /** POSTs only the sealed output to the controller's /v1/verify. */
  async function validateOutput() {
    if (!state.output || state.output.raw) return;
    setStatus('validate-result', 'Asking the controller…');
    let response;
    try {
      response = await fetch('v1/verify', {
        method: 'POST',
        body: state.output.yaml,
        headers: { 'Content-Type': 'application/yaml' },
        cache: 'no-store',
        credentials: 'same-origin',
        redirect: 'error',
      });
    } catch (e) {
      setStatus('validate-result', 'Could not reach the controller.', 'bad');
      return;
    }
    if (response.status === 200) {
      setStatus('validate-result', 'Valid: the controller can decrypt every item.', 'ok');
    } else if (response.status === 409) {
      setStatus('validate-result', 'Not valid: the controller cannot decrypt it (another key, or ' +
        'sealed for another name, namespace or scope).', 'bad');
    } else if (response.status === 429) {
      setStatus('validate-result', 'The controller is busy (too many requests): try again in a moment.', 'bad');
    } else {
      const text = (await response.text()).slice(0, 200).trim();
      setStatus('validate-result', 'The controller answered ' + response.status + (text ? ': ' + text : '') + '.', 'bad');
    }
  }

  function clearValues() {
    for (const el of document.querySelectorAll('.secret-value')) el.value = '';
    for (const el of document.querySelectorAll('#seal-form input[type="file"]')) {
      if (el.id === 'cert-file' || el.id === 'merge-file') continue;
      el.value = '';
    }
    state.rows.forEach(onRowFile);
    setStatus('status', 'Values cleared.');
  }

  // --- wiring ---

  function run(action) {
    return async (event) => {
      if (event) event.preventDefault();
      try {
        await action();
      } catch (e) {
        showError(e instanceof InputError ? e : new InputError('Sealing failed: ' + e.message));
        setStatus('status', '');
      }
    };
  }

  function init() {
    const server = document.body.dataset.server;
    state.server = server === 'controller' || server === 'seal-web' ? server : 'file';
    const controllerChoice = $('cert-source-controller');
    if (state.server === 'file') {
      controllerChoice.disabled = true;
      $('cert-source-pem').checked = true;
      $('server-note').textContent = 'Opened from a file: paste or upload the certificate ' +
        '(seal --fetch-cert prints the controller\'s).';
      $('validate-note').textContent = 'Validation needs the controller: this page was opened from a file.';
    } else if (state.server === 'seal-web') {
      $('cert-source-controller').labels[0].textContent = 'The certificate seal web serves';
      $('server-note').textContent = 'Served by seal web from a certificate file.';
      $('validate-note').textContent = 'seal web has no /v1/verify: validate with the controller ' +
        '(this page as the controller serves it, or seal --validate).';
    } else {
      $('validate-note').textContent = 'Validate sends only the sealed output to the controller\'s /v1/verify.';
    }

    addRow(false);
    onScope();
    onModes();

    $('seal-form').addEventListener('submit', run(seal));
    $('seal-form').addEventListener('input', (event) => {
      if (state.output && !event.target.closest('#output-section')) {
        setStatus('status', 'The form changed since the output was sealed: press Seal to update it.');
      }
    });
    $('add-row').addEventListener('click', () => addRow(true));
    $('cert-source-controller').addEventListener('change', onCertSource);
    $('cert-source-pem').addEventListener('change', onCertSource);
    $('cert-pem').addEventListener('input', () => {
      if ($('cert-pem').value.trim()) useCertificate(Promise.resolve($('cert-pem').value), 'the pasted PEM');
    });
    $('cert-file').addEventListener('change', () => {
      const input = $('cert-file');
      if (!input.files[0]) return;
      const text = readFileText(input, 'the certificate file');
      text.then((t) => { $('cert-pem').value = t; }, () => {});
      useCertificate(text, input.files[0].name);
    });
    $('merge').addEventListener('change', () => {
      if (mergeOn()) $('raw').checked = false;
      onModes();
    });
    $('raw').addEventListener('change', () => {
      if (rawOn()) $('merge').checked = false;
      onModes();
    });
    $('merge-input').addEventListener('input', onMergeInput);
    $('merge-file').addEventListener('change', run(async () => {
      $('merge-input').value = await readFileText($('merge-file'), 'the SealedSecret file');
      onMergeInput();
    }));
    $('type').addEventListener('change', onModes);
    $('scope').addEventListener('change', onScope);
    $('format-yaml').addEventListener('change', onFormat);
    $('format-json').addEventListener('change', onFormat);
    $('copy').addEventListener('click', run(copyOutput));
    $('download').addEventListener('click', run(downloadOutput));
    $('validate').addEventListener('click', run(validateOutput));
    $('clear').addEventListener('click', clearValues);
    $('hide-values').addEventListener('change', () => {
      document.body.classList.toggle('hide-values', $('hide-values').checked);
    });

    onCertSource();
    document.body.dataset.ready = 'true';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());
