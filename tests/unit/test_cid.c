/* test_cid.c - CIDv1 parse/format against known CIDs. */
#include <stdlib.h>

#include "cid.h"
#include "tap.h"

int main(void)
{
	cid_t c, d;
	const char *known[] = {
		"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a",
		"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity",
	};
	for (size_t i = 0; i < 2; i++) {
		ok(cid_parse(known[i], &c) == 0, "parse %s", known[i]);
		char *s = cid_format(&c);
		is_str(s, known[i], "format round trip");
		free(s);
	}
	cid_parse(known[0], &c);
	is_int(cid_codec(&c), CID_CODEC_DAG_CBOR, "bafyrei... is dag-cbor");
	cid_parse(known[1], &c);
	is_int(cid_codec(&c), CID_CODEC_RAW, "bafkrei... is raw");

	/* raw CID of "hello world" (sha2-256 b94d27b9...) */
	cid_of(CID_CODEC_RAW, "hello world", 11, &c);
	char *s = cid_format(&c);
	is_str(s, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", "raw CID of 'hello world'");
	free(s);
	ok(cid_parse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", &d) == 0 && cid_equal(&c, &d),
	   "parsed equals computed");

	ok(cid_parse("", &c) < 0, "empty refused");
	ok(cid_parse(".", &c) < 0, "bogus refused");
	ok(cid_parse("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", &c) < 0, "CIDv0 refused");
	ok(cid_parse("bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2", &c) < 0, "truncated refused");
	ok(cid_parse("Bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a", &c) < 0,
	   "upper-case multibase prefix refused");
	unsigned char bad[CID_BYTES] = {1, 0x70, 0x12, 0x20};
	ok(cid_from_bytes(bad, sizeof bad, &c) < 0, "unknown codec refused");
	return tap_done();
}
