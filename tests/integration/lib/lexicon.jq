# lexicon.jq - check a JSON value against an XRPC method's output schema in a lexicon file; prints one
# line per problem, nothing when the value conforms. Strict: a property the schema does not define is a
# problem too (our answers carry exactly the lexicon's fields).
#   jq -r --slurpfile lex tests/integration/lexicons/NSID.json -f tests/integration/lib/lexicon.jq <<<"$json"
# Types: object (required, properties), array (items), ref (#local), string (maxLength in bytes; formats
# datetime, did, at-uri), integer (minimum), boolean.

def datetime_ok: test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$");
def did_ok: test("^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$");
def aturi_ok: test("^at://(did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]|[a-zA-Z0-9.-]+)(/[a-zA-Z0-9.-]+(/[A-Za-z0-9._~:@!$&'()*+,;=%-]+)?)?$");

def problems($defs; $s; $v; $p):
	if $s.type == "ref" then
		if ($s.ref | startswith("#")) then problems($defs; $defs[$s.ref[1:]]; $v; $p)
		else ["\($p): ref \($s.ref) is not local"] end
	elif $s.type == "object" then
		if ($v | type) != "object" then ["\($p): \($v | type), not an object"]
		else
			[($s.required // [])[] | select(. as $k | $v | has($k) | not) | "\($p).\(.): required, missing"]
			+ [$v | keys[] | select(. as $k | ($s.properties // {}) | has($k) | not) | "\($p).\(.): not in the lexicon"]
			+ [($s.properties // {}) | to_entries[] | select(.key as $k | $v | has($k))
				| problems($defs; .value; $v[.key]; "\($p).\(.key)")[]]
		end
	elif $s.type == "array" then
		if ($v | type) != "array" then ["\($p): \($v | type), not an array"]
		else [range(0; $v | length) as $i | problems($defs; $s.items; $v[$i]; "\($p)[\($i)]")[]] end
	elif $s.type == "string" then
		if ($v | type) != "string" then ["\($p): \($v | type), not a string"]
		else
			[(if $s.maxLength and ($v | utf8bytelength) > $s.maxLength then "\($p): longer than \($s.maxLength)" else empty end),
			 (if $s.format == "datetime" and ($v | datetime_ok | not) then "\($p): not a datetime: \($v)" else empty end),
			 (if $s.format == "did" and ($v | did_ok | not) then "\($p): not a DID: \($v)" else empty end),
			 (if $s.format == "at-uri" and ($v | aturi_ok | not) then "\($p): not an at-uri: \($v)" else empty end)]
		end
	elif $s.type == "integer" then
		if ($v | type) != "number" or ($v | floor) != $v then ["\($p): \($v | tojson), not an integer"]
		elif $s.minimum != null and $v < $s.minimum then ["\($p): below \($s.minimum)"]
		else [] end
	elif $s.type == "boolean" then
		if ($v | type) != "boolean" then ["\($p): \($v | tojson), not a boolean"] else [] end
	else ["\($p): schema type \($s.type) not handled by lexicon.jq"] end;

$lex[0].defs as $defs | problems($defs; $defs.main.output.schema; .; "$")[]
