# The pq-hybrid profile written in Rego; agile's table test checks that it gives
# the same decisions as pq-hybrid.toml for every algorithm and operation.
#
# Input (see docs/policy.md): operation, purpose, algorithm (the descriptor as
# `agile algorithms --json` prints it, or {"id", "family": "seal"} for a sealer),
# key (metadata with age_seconds, or null) and time (RFC 3339, UTC).
# Output: allow, rules, deny, preferred, sealers, max_key_age, name, description.
package agile.policy

import rego.v1

name := "pq-hybrid"

description := "Hybrid KEMs (X-Wing) for new encryption, ML-DSA or ML-DSA-65+Ed25519 for new signatures, 256-bit AEADs; classical algorithms only for old data."

# Per purpose: `allowed` (preferred first) and `old`, the decrypt-only or
# verify-only ids mapped to their last day ("" means no end).
sections := {
	"kem": {
		"allowed": ["x-wing"],
		"old": {
			"x25519": "", "p256": "", "p384": "", "rsa-oaep-3072": "",
			"rsa-oaep-2048": "2030-12-31",
			"ml-kem-768": "", "ml-kem-1024": "", "ml-kem-512": "",
		},
		"require_hybrid": true,
		"max_key_age": "365d",
	},
	"signature": {
		"allowed": ["ml-dsa-65", "ml-dsa-65-ed25519", "ml-dsa-87", "ml-dsa-44"],
		"old": {
			"ed25519": "", "ed448": "", "ecdsa-p256-sha256": "", "ecdsa-p384-sha384": "",
			"rsa-pss-3072-sha256": "", "rsa-pss-2048-sha256": "2030-12-31",
			"slh-dsa-sha2-128s": "", "slh-dsa-sha2-128f": "", "slh-dsa-sha2-192s": "",
			"slh-dsa-sha2-192f": "", "slh-dsa-sha2-256s": "", "slh-dsa-sha2-256f": "",
			"slh-dsa-shake-128s": "", "slh-dsa-shake-128f": "", "slh-dsa-shake-192s": "",
			"slh-dsa-shake-192f": "", "slh-dsa-shake-256s": "", "slh-dsa-shake-256f": "",
		},
		"require_quantum_safe": true,
		"max_key_age": "365d",
	},
	"aead": {
		"allowed": ["aes-256-gcm", "chacha20-poly1305", "xchacha20-poly1305", "aes-256-gcm-siv"],
		"old": {"aes-128-gcm": ""},
		"min_category": 5,
		"max_key_age": "365d",
	},
	"kdf": {"allowed": ["hkdf-sha256", "hkdf-sha384", "hkdf-sha512"], "old": {}},
	"password-kdf": {"allowed": ["argon2id", "scrypt"], "old": {}},
	"homomorphic": {
		"allowed": ["paillier-3072", "paillier-4096"],
		"old": {"paillier-2048": ""},
		"min_category": 1,
		"max_key_age": "365d",
	},
	"secret-sharing": {
		"allowed": ["shamir-gf256", "shamir-prime"],
		"old": {"feldman-vss-ristretto255": ""},
	},
	"seal": {"allowed": ["passphrase", "tpm2", "pkcs11", "keep", "sss"], "old": {}},
}

preferred := {name_: rules_.allowed[0] | some name_, rules_ in sections}

sealers := sections.seal.allowed

max_key_age := {name_: rules_.max_key_age |
	some name_, rules_ in sections
	rules_.max_key_age
}

# Helpers for the question in `input`.

purpose := input.purpose

section := sections[purpose]

algorithm := input.algorithm.id

today := substring(input.time, 0, 10)

is_new if input.operation in {"generate", "encrypt", "sign", "seal"}

is_old if input.operation in {"decrypt", "verify"}

in_allowed if algorithm in section.allowed

in_old if algorithm in object.keys(section.old)

old_key := "verify_only" if purpose == "signature"

else := "decrypt_only"

old_operation := "verify" if purpose == "signature"

else := "decrypt"

old_open if {
	in_old
	section.old[algorithm] == ""
}

old_open if {
	in_old
	until := section.old[algorithm]
	until != ""
	today <= until
}

unit_seconds := {"h": 3600, "d": 86400, "w": 604800, "y": 31536000}

duration_seconds(text) := seconds if {
	unit := substring(text, count(text) - 1, 1)
	seconds := to_number(substring(text, 0, count(text) - 1)) * unit_seconds[unit]
}

needs := sprintf("%s needs one of: %s", [input.operation, concat(", ", section.allowed)])

# New-use constraints, as [rule, reason] pairs.

failures contains [rule, reason] if {
	is_new
	in_allowed
	floor := section.min_category
	category := input.algorithm.category
	category != null
	category < floor
	rule := sprintf("%s.min_category", [purpose])
	reason := sprintf("'%s' has security category %d, below %s.min_category %d", [algorithm, category, purpose, floor])
}

failures contains [rule, reason] if {
	is_new
	in_allowed
	section.require_quantum_safe
	not input.algorithm.quantum_safe
	rule := sprintf("%s.require_quantum_safe", [purpose])
	reason := sprintf("'%s' is not quantum-safe (%s.require_quantum_safe)", [algorithm, purpose])
}

failures contains [rule, reason] if {
	is_new
	in_allowed
	section.require_hybrid
	not input.algorithm.hybrid
	rule := sprintf("%s.require_hybrid", [purpose])
	reason := sprintf("'%s' is not a hybrid (%s.require_hybrid)", [algorithm, purpose])
}

# NIST SP 800-57 Part 1 section 5.3: an old key may open data but not protect new data.
failures contains [rule, reason] if {
	is_new
	in_allowed
	input.key != null
	limit := section.max_key_age
	input.key.age_seconds > duration_seconds(limit)
	rule := sprintf("%s.max_key_age", [purpose])
	reason := sprintf("key '%s' is older than %s.max_key_age %s; rotate it", [input.key.key_id, purpose, limit])
}

# Outputs.

default allow := false

allow if {
	is_new
	in_allowed
	count(failures) == 0
}

allow if {
	is_old
	in_allowed
}

allow if {
	is_old
	not in_allowed
	old_open
}

rules contains sprintf("%s.allowed", [purpose]) if {
	in_allowed
	count(failures) == 0
}

rules contains sprintf("%s.allowed", [purpose]) if {
	is_new
	not in_allowed
}

rules contains sprintf("%s.allowed", [purpose]) if {
	is_old
	not in_allowed
	not in_old
}

rules contains rule if some [rule, _] in failures

rules contains sprintf("%s.%s", [purpose, old_key]) if {
	is_old
	not in_allowed
}

deny contains reason if some [_, reason] in failures

deny contains reason if {
	is_new
	not in_allowed
	old_open
	reason := sprintf("'%s' is only allowed for %s under policy '%s' (%s.%s); %s", [algorithm, old_operation, name, purpose, old_key, needs])
}

# Past its last day an old-data entry admits nothing, so the reason names the day.
deny contains reason if {
	is_new
	not in_allowed
	in_old
	not old_open
	reason := sprintf("'%s' was allowed only for %s under policy '%s' until %s (%s.%s), which has passed; %s", [algorithm, old_operation, name, section.old[algorithm], purpose, old_key, needs])
}

deny contains reason if {
	is_new
	not in_allowed
	not in_old
	reason := sprintf("'%s' is not in %s.allowed of policy '%s'; %s", [algorithm, purpose, name, needs])
}

deny contains reason if {
	is_old
	not in_allowed
	in_old
	not old_open
	reason := sprintf("'%s' was allowed for %s until %s (%s.%s), which has passed", [algorithm, old_operation, section.old[algorithm], purpose, old_key])
}

deny contains reason if {
	is_old
	not in_allowed
	not in_old
	reason := sprintf("'%s' is not in %s.allowed or %s.%s of policy '%s'", [algorithm, purpose, purpose, old_key, name])
}
