#!/usr/bin/env bash
# Seeds fuzz/corpus/TARGET/ from the repository's own fixtures (tests/conformance, fuzz/keys) and
# from SealedSecrets that `seal` makes for the fixed fuzz certificate. Run from anywhere; needs a
# built `seal` (SEAL=path, default $CARGO_TARGET_DIR/debug/seal or target/debug/seal), openssl
# and python3. Seeds are then grown by fuzzing and shrunk with `cargo fuzz cmin` (see run.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seal="${SEAL:-${CARGO_TARGET_DIR:-$root/target}/debug/seal}"
conf=tests/conformance
corpus=fuzz/corpus
keys=fuzz/keys
put() { # put TARGET NAME < content
  mkdir -p "$corpus/$1"
  cat > "$corpus/$1/seed-$2"
}
copy() { # copy TARGET FILE...
  local target=$1; shift
  mkdir -p "$corpus/$target"
  for f in "$@"; do cp "$f" "$corpus/$target/seed-$(echo "$f" | tr '/' '_')"; done
}

# Secrets (the `seal` input stream).
secret_yaml='apiVersion: v1
kind: Secret
metadata:
  name: blob
  namespace: fuzz
  labels: {app: db}
  annotations: {note: x}
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: app
'
put secret_stream yaml <<<"$secret_yaml"
put secret_stream json <<'JSON'
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"team-a","annotations":{"sealedsecrets.bitnami.com/namespace-wide":"true"}},"data":{"a":"YQ=="},"immutable":true}
JSON
put secret_stream list <<'YAML'
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: one, annotations: {sealedsecrets.bitnami.com/cluster-wide: "true"}}
  stringData: {k: v}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: two}
---
apiVersion: v1
kind: Secret
metadata: {name: three}
data: {}
YAML

# SealedSecrets for the fixed key: strict, namespace-wide, cluster-wide, with templates.
for scope in strict namespace-wide cluster-wide; do
  "$seal" --cert "$keys/sealing.crt" --scope "$scope" -o yaml <<<"$secret_yaml" |
    put sealed_manifest "$scope.yaml"
  "$seal" --cert "$keys/sealing.crt" --scope "$scope" -o json <<<"$secret_yaml" |
    put verify_body "$scope.json"
done
"$seal" --cert "$keys/sealing.crt" -o yaml <<<"$secret_yaml" | python3 -c '
import sys
text = sys.stdin.read()
text = text.replace("  template:\n", "  template:\n    data:\n      dsn: \"postgres://{{ .user }}:{{ index . \\\"password\\\" | b64enc }}@db\"\n      json: \"{{ toJson . }}\"\n", 1)
sys.stdout.write(text)' | put sealed_manifest template.yaml
cp "$corpus/sealed_manifest/seed-template.yaml" "$corpus/verify_body/seed-template.yaml"
# Raw blobs (strict scope, fuzz/blob): the encryptedData values, base64-decoded.
python3 - "$corpus" <<'PY'
import base64, json, os, re, sys
corpus = sys.argv[1]
os.makedirs(f"{corpus}/sealed_blob", exist_ok=True)
ss = json.load(open(f"{corpus}/verify_body/seed-strict.json"))
for name, value in ss["spec"]["encryptedData"].items():
    open(f"{corpus}/sealed_blob/seed-{name}", "wb").write(base64.b64decode(value))
PY

# SOPS stores, ENC values, age stanzas, rules.
copy sops_yaml $(find "$conf/sops" -name '*.yaml' ! -name '*.sops.yaml' | sort)
copy sops_json $(find "$conf/sops" -name '*.json' ! -name '*.expected.json' | sort)
copy sops_dotenv $(find "$conf/sops" -name '*.env' | sort)
copy sops_ini $(find "$conf/sops" -name '*.ini' | sort)
copy sops_binary $(find "$conf/sops" -name '*.bin' -o -name '*.txt' ! -path '*/keys/*' | sort)
copy sops_rules $(find "$conf/sops" -name '*.sops.yaml' | sort)
python3 - "$corpus" "$conf/sops" <<'PY'
import os, re, sys, hashlib
corpus, conf = sys.argv[1], sys.argv[2]
enc, age = set(), set()
for dirpath, _, files in os.walk(conf):
    for f in files:
        text = open(os.path.join(dirpath, f), errors="replace").read()
        enc.update(re.findall(r"ENC\[AES256_GCM,[^\]]*\]", text))
        for block in re.findall(r"-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----", text, re.S):
            block = block.replace("\\n", "\n")
            age.add("\n".join(line.strip() for line in block.splitlines()) + "\n")
for target, values, limit in (("enc_value", enc, 60), ("age_stanza", age, 40)):
    os.makedirs(f"{corpus}/{target}", exist_ok=True)
    for value in sorted(values)[:limit]:
        name = hashlib.sha1(value.encode()).hexdigest()[:12]
        open(f"{corpus}/{target}/seed-{name}", "w").write(value)
PY

# Templates: source, NUL, then the values of a, b, c…
printf '%s\0%s\0%s' 'postgres://{{ .a }}:{{ index . "b" | b64enc }}@{{ .c | default "db" | upper }}' 'app' 'hunter2' | put template dsn
printf '%s\0%s' '{{- range $i, $v := split "," .a }}{{ $i }}={{ $v | quote }}{{ end -}}' 'x,y,z' | put template range
printf '%s\0%s' '{{ with fromJson .a }}{{ toYaml . | nindent 2 }}{{ else }}none{{ end }}' '{"k":[1,2.5,"s",null,true]}' | put template json
printf '%s\0%s' '{{ if and (eq .a "x") (ne (len .a) 0) }}{{ printf "%08.3f|%-5s|%q" 3.14159 .a .a }}{{ end }}' 'x' | put template printf
printf '%s' '{{ $x := list 1 2 3 }}{{ range $x }}{{ . }}{{ end }}{{ dict "a" 1 | toJson }}{{ sha256sum "a" }}{{ trim "  a " }}{{ replace "a" "b" "aaa" }}' | put template funcs

# Certificates and private keys, PEM and DER.
copy certificate "$conf/sealed-secrets/kubeseal_test_cert.pem" "$keys/sealing.crt"
openssl x509 -in "$keys/sealing.crt" -outform DER | put certificate der
copy private_key "$keys/sealing.key"
openssl rsa -in "$keys/sealing.key" -traditional 2>/dev/null | put private_key pkcs1.pem
openssl pkcs8 -topk8 -nocrypt -in "$keys/sealing.key" -outform DER | put private_key pkcs8.der
openssl rsa -in "$keys/sealing.key" -traditional -outform DER 2>/dev/null | put private_key pkcs1.der

# age identities and recipients.
copy age_identity $(find "$conf/sops" -path '*keys*' -name 'age*.txt' | sort) "$conf/sops/sops-nix/age-keys.txt"
grep -rhoE 'age1[a-z0-9]+' "$conf/sops" | sort -u | head -5 | tr '\n' ',' | sed 's/,$/\n/' | put age_identity recipients

# KRM ResourceLists.
put krm_resource_list yaml <<'YAML'
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: viaduct.ai/v1
  kind: ksops
  metadata: {name: gen}
  files: [secret.enc.yaml]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
functionConfig:
  apiVersion: sealkit.dev/v1alpha1
  kind: SecretGenerator
  metadata: {name: g}
  secretFrom: []
YAML
put krm_resource_list json <<'JSON'
{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}],"functionConfig":null}
JSON
echo "seeded: $(find "$corpus" -type f | wc -l) files"
