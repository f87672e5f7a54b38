/* manifests.c - manifests, tags, referrers and the catalog (being written). */
#include "registry.h"

int manifests_get(reg_req *q) { return registry_fail(q, OCI_UNSUPPORTED, "not yet", NULL); }
int manifests_put(reg_req *q) { return registry_fail(q, OCI_UNSUPPORTED, "not yet", NULL); }
int manifests_delete(reg_req *q) { return registry_fail(q, OCI_UNSUPPORTED, "not yet", NULL); }
int tags_list(reg_req *q) { return registry_fail(q, OCI_UNSUPPORTED, "not yet", NULL); }
int referrers_list(reg_req *q) { return registry_fail(q, OCI_UNSUPPORTED, "not yet", NULL); }
int catalog_list(reg_req *q) { return registry_fail(q, OCI_UNSUPPORTED, "not yet", NULL); }
