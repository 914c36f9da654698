/* ruleset.c — loading a rule set directory: manifest, packs, digest, knowledge base. */
#include "ruleset.h"

#include <dirent.h>
#include <fnmatch.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "rule_decl.h"
#include "rule_tables.h"
#include "grow.h"
#include "json.h"
#include "lua_table.h"
#include "mp.h"
#include "prefetch.h"
#include "private_file.h"
#include "tsv.h"
#include "utf8.h"

static void check_prefetch(cds_ltab *t, cds_service *s);

static const char COLLECT_KEY = 'C';

/* ruleset{...} / pack{...}: remembers the table and where it was written. */
static int collect(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &COLLECT_KEY) != LUA_TNIL)
        return luaL_error(L, "%s{} may appear only once in this file", lua_tostring(L, lua_upvalueindex(1)));
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    luaL_where(L, 1);
    lua_rawseti(L, -2, 2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &COLLECT_KEY);
    return 0;
}

/* Runs a declarative file (manifest.lua, pack.lua) and pushes the collected table; its
 * location "file:line:" is copied into where. */
static bool run_declaration(cds_sandbox *sb, const char *path, const char *fname, char *where, size_t wl,
                            cds_strbuf *diag)
{
    lua_State *L = cds_sandbox_L(sb);
    cds_error err;
    cds_error_clear(&err);
    size_t len;
    char *src = cds_read_file(path, &len, 1u << 20, &err);
    if (src && cds_utf8_check_text(path, src, len, &err) != CDS_OK) {
        free(src);
        src = NULL;
    }
    if (!src) { cds_strbuf_printf(diag, "%s\n", err.message); return false; }
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &COLLECT_KEY);
    bool ok = cds_sandbox_load(sb, src, len, path, &err) == CDS_OK && cds_sandbox_call(sb, 0, 0, NULL, &err) == CDS_OK;
    free(src);
    if (!ok) { cds_strbuf_printf(diag, "%s\n", err.message); return false; }
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &COLLECT_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        cds_strbuf_printf(diag, "%s:1: expected a %s { ... } declaration\n", path, fname);
        return false;
    }
    lua_rawgeti(L, -1, 2);
    snprintf(where, wl, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
    char at[160];
    int plain = cds_sandbox_declaration_plain(sb, -1, fname, at, sizeof at);
    if (plain != 1) {   /* the parser would run its metamethods unprotected */
        cds_strbuf_printf(diag, "%s%s { ... }: %s%s\n", where, fname, plain ? "out of memory checking it" : at,
                          plain ? "" : " (declarations are plain tables of UTF-8 text)");
        lua_pop(L, 1);
        return false;
    }
    return true;
}

static cds_sandbox *declaration_sandbox(const char *fname, cds_strbuf *diag)
{
    cds_error err;
    cds_sandbox *sb = cds_sandbox_new(NULL, &err);
    if (!sb) { cds_strbuf_printf(diag, "%s\n", err.message); return NULL; }
    lua_State *L = cds_sandbox_L(sb);
    lua_pushstring(L, fname);
    lua_pushcclosure(L, collect, 1);
    cds_sandbox_set_global(sb, fname);
    cds_sandbox_lock(sb);
    return sb;
}

static int parse_services(cds_ruleset *rs, lua_State *L, int tbl, const char *where, cds_strbuf *diag,
                          char ****patterns, size_t **npatterns)
{
    int errors = 0;
    if (lua_getfield(L, tbl, "services") != LUA_TTABLE) {
        cds_strbuf_printf(diag, "%s ruleset: 'services' must be a list of services\n", where);
        lua_pop(L, 1);
        return 1;
    }
    size_t n = (size_t)lua_rawlen(L, -1);
    rs->services = calloc(n ? n : 1, sizeof *rs->services);
    *patterns = calloc(n ? n : 1, sizeof **patterns);
    *npatterns = calloc(n ? n : 1, sizeof **npatterns);
    if (!rs->services || !*patterns || !*npatterns) {
        cds_strbuf_printf(diag, "%s ruleset: out of memory reading the services\n", where);
        lua_pop(L, 1);
        return 1;
    }
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        char what[64];
        snprintf(what, sizeof what, "service %zu", i);
        if (!lua_istable(L, -1)) {
            cds_strbuf_printf(diag, "%s %s: must be a table\n", where, what);
            errors++;
            lua_pop(L, 1);
            continue;
        }
        cds_ltab t = {L, lua_gettop(L), where, what, diag, 0, NULL};
        static const char *const allowed[] = {"id", "hook", "title", "description", "prefetch", "rules",
                                              "usageRequirements", "required_prefetch", "missing_prefetch", NULL};
        cds_service *s = &rs->services[rs->nservices];
        s->id = cds_ltab_str(&t, "id", true);
        if (s->id) { snprintf(what, sizeof what, "service '%s'", s->id); }
        cds_ltab_allow(&t, allowed);
        s->hook = cds_ltab_str(&t, "hook", true);
        s->title = cds_ltab_str(&t, "title", false);
        s->description = cds_ltab_str(&t, "description", true);
        s->usage = cds_ltab_str(&t, "usageRequirements", false);
        s->nprefetch = cds_ltab_strmap(&t, "prefetch", &s->prefetch_keys, &s->prefetch_templates);
        check_prefetch(&t, s);
        (*npatterns)[rs->nservices] = cds_ltab_strlist(&t, "rules", true, &(*patterns)[rs->nservices]);
        for (size_t k = 0; k < rs->nservices && s->id; k++)
            if (rs->services[k].id && strcmp(rs->services[k].id, s->id) == 0)
                cds_ltab_error(&t, "duplicate service id '%s'", s->id);
        errors += t.errors;
        rs->nservices++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return errors;
}

/* Templates use only the spec's tokens; required_prefetch names template keys. */
static void check_prefetch(cds_ltab *t, cds_service *s)
{
    if (s->nprefetch > CDS_PREFETCH_MAX_KEYS)
        cds_ltab_error(t, "prefetch: %zu keys; at most %d", s->nprefetch, CDS_PREFETCH_MAX_KEYS);
    for (size_t k = 0; k < s->nprefetch; k++) {
        char why[200];
        if (!cds_prefetch_template_ok(s->prefetch_templates[k], why, sizeof why))
            cds_ltab_error(t, "prefetch '%s': %s", s->prefetch_keys[k], why);
    }
    char **req = NULL;
    size_t nreq = cds_ltab_strlist(t, "required_prefetch", false, &req);
    s->prefetch_required = calloc(s->nprefetch ? s->nprefetch : 1, sizeof *s->prefetch_required);
    for (size_t i = 0; i < nreq; i++) {
        size_t k = 0;
        while (k < s->nprefetch && strcmp(s->prefetch_keys[k], req[i]) != 0) k++;
        if (k == s->nprefetch) cds_ltab_error(t, "required_prefetch: '%s' is not a key of prefetch", req[i]);
        else s->prefetch_required[k] = true;
    }
    cds_free_strlist(req, nreq);
    char *policy = cds_ltab_str(t, "missing_prefetch", false);
    if (policy && strcmp(policy, "reject") == 0) s->reject_missing_prefetch = true;
    else if (policy && strcmp(policy, "card") != 0)
        cds_ltab_error(t, "missing_prefetch: '%s'; use \"card\" (answer with a warning card per required key that "
                          "could not be had) or \"reject\" (HTTP 412)", policy);
    free(policy);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir matching a suffix ("" = all), optionally only directories. Out of memory
 * is a load error in diag (a shorter list would silently drop rules or tables). */
static size_t list_dir(const char *dir, const char *suffix, bool dirs, char ***out, cds_strbuf *diag, int *errors)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || (dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) continue;
        char *name = NULL;
        if (!cds_grow(out, &cap, n + 1, sizeof **out) || !(name = strdup(e->d_name))) {
            cds_strbuf_printf(diag, "%s: out of memory listing the directory\n", dir);
            (*errors)++;
            break;
        }
        (*out)[n++] = name;
    }
    closedir(d);
    if (n) qsort(*out, n, sizeof **out, cmp_str);
    return n;
}

/* Adds a file to the digest under its path relative to the rule set, so the same rule set
 * has the same digest wherever it is installed. */
/* Adds the file to the rule set digest; 1 (a load error, in diag) when it cannot be read: a
 * digest that left a file out would name a rule set that is not the one loaded. */
static int digest_file(cds_digest *d, const char *root, const char *path, cds_strbuf *diag)
{
    size_t len;
    cds_error err;
    char *src = cds_read_file(path, &len, 256u << 20, &err);
    if (!src) {
        cds_strbuf_printf(diag, "%s\n", err.message);
        return 1;
    }
    char sha[65];
    cds_sha256_hex(src, len, sha);
    size_t rl = strlen(root);
    const char *rel = strncmp(path, root, rl) == 0 && path[rl] == '/' ? path + rl + 1 : path;
    cds_digest_update(d, rel, strlen(rel) + 1);
    cds_digest_update(d, sha, 64);
    free(src);
    return 0;
}

/* Reads <pack>/tables/NAME.tsv into rs->tables (UTF-8 checked, in the digest). Table names are
 * unique across packs: a rule asks for one by name. */
static int read_tables(cds_ruleset *rs, const char *pdir, size_t *cap, cds_digest *dg, cds_strbuf *diag)
{
    int errors = 0;
    char tdir[1100];
    snprintf(tdir, sizeof tdir, "%s/tables", pdir);
    char **files;
    size_t nf = list_dir(tdir, ".tsv", false, &files, diag, &errors);
    for (size_t f = 0; f < nf; f++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", tdir, files[f]);
        for (size_t k = 0; k < rs->ntables; k++) {
            const char *other = strrchr(rs->tables[k].path, '/');
            if (other && strcmp(other + 1, files[f]) == 0) {
                cds_strbuf_printf(diag, "%s:1: a table named '%s' is already in %s: table names are unique across packs\n",
                                  path, files[f], rs->tables[k].path);
                errors++;
            }
        }
        cds_error err;
        cds_error_clear(&err);
        size_t len;
        char *src = cds_read_file(path, &len, 64u << 20, &err);
        if (src && cds_tsv_check_text(path, src, len, &err) != CDS_OK) {
            free(src);
            src = NULL;
        }
        if (src && cds_tsv_bom_len(src, len)) {   /* the same table rules as knowledge tables */
            len -= 3;
            memmove(src, src + 3, len + 1);
        }
        if (!src) { cds_strbuf_printf(diag, "%s\n", err.message); errors++; continue; }
        if (!cds_grow(&rs->tables, cap, rs->ntables + 1, sizeof *rs->tables)) {
            cds_strbuf_printf(diag, "%s: out of memory\n", path);
            free(src);
            errors++;
            break;
        }
        rs->tables[rs->ntables++] = (cds_source_file){strdup(path), src, len};
        errors += digest_file(dg, rs->dir, path, diag);
    }
    cds_free_strlist(files, nf);
    return errors;
}

static int load_packs(cds_ruleset *rs, cds_digest *dg, cds_strbuf *diag)
{
    int errors = 0;
    size_t packs_cap = 0, files_cap = 0, tables_cap = 0;
    char **dirs;
    size_t nd = list_dir(rs->dir, "", true, &dirs, diag, &errors);
    cds_sandbox *sb = declaration_sandbox("pack", diag);
    if (!sb) { cds_free_strlist(dirs, nd); return 1; }
    lua_State *L = cds_sandbox_L(sb);
    for (size_t i = 0; i < nd; i++) {
        char pdir[1024], ppath[1100];
        snprintf(pdir, sizeof pdir, "%s/%s", rs->dir, dirs[i]);
        snprintf(ppath, sizeof ppath, "%s/pack.lua", pdir);
        if (access(ppath, R_OK) != 0) continue;
        char where[600];
        if (!run_declaration(sb, ppath, "pack", where, sizeof where, diag)) { errors++; continue; }
        cds_ltab t = {L, lua_gettop(L), where, "pack", diag, 0, NULL};
        static const char *const allowed[] = {"name", "version", "owner", "description", NULL};
        cds_ltab_allow(&t, allowed);
        if (!cds_grow(&rs->packs, &packs_cap, rs->npacks + 1, sizeof *rs->packs)) {
            cds_strbuf_printf(diag, "%s: out of memory\n", ppath);
            errors++;
            lua_pop(L, 1);
            break;
        }
        cds_pack_info *p = &rs->packs[rs->npacks++];
        p->name = cds_ltab_str(&t, "name", true);
        p->version = cds_ltab_str(&t, "version", true);
        p->owner = cds_ltab_str(&t, "owner", false);
        p->dir = strdup(pdir);
        free(cds_ltab_str(&t, "description", false));
        errors += t.errors;
        lua_pop(L, 1);
        errors += digest_file(dg, rs->dir, ppath, diag);
        char **files;
        size_t nf = list_dir(pdir, ".lua", false, &files, diag, &errors);
        for (size_t f = 0; f < nf; f++) {
            if (strcmp(files[f], "pack.lua") == 0) continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", pdir, files[f]);
            cds_error err;
            cds_error_clear(&err);
            size_t len;
            char *src = cds_read_file(path, &len, 4u << 20, &err);
            if (src && cds_utf8_check_text(path, src, len, &err) != CDS_OK) {
                free(src);
                src = NULL;
            }
            if (!src) { cds_strbuf_printf(diag, "%s\n", err.message); errors++; continue; }
            if (!cds_grow(&rs->files, &files_cap, rs->nfiles + 1, sizeof *rs->files)) {
                cds_strbuf_printf(diag, "%s: out of memory\n", path);
                free(src);
                errors++;
                break;
            }
            rs->files[rs->nfiles++] = (cds_source_file){strdup(path), src, len};
            errors += digest_file(dg, rs->dir, path, diag);
        }
        cds_free_strlist(files, nf);
        errors += read_tables(rs, pdir, &tables_cap, dg, diag);
        char kdir[1100];
        snprintf(kdir, sizeof kdir, "%s/knowledge", pdir);
        nf = list_dir(kdir, ".tsv", false, &files, diag, &errors);
        for (size_t f = 0; f < nf; f++) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", kdir, files[f]);
            errors += digest_file(dg, rs->dir, path, diag);
        }
        cds_free_strlist(files, nf);
    }
    cds_free_strlist(dirs, nd);
    cds_sandbox_free(sb);
    return errors;
}

static int build_kb(cds_ruleset *rs, const cds_ruleset_opts *opts, cds_strbuf *diag)
{
    const char **dirs = calloc(rs->npacks + 1, sizeof *dirs);
    if (!dirs) {
        cds_strbuf_printf(diag, "%s: out of memory building the knowledge base\n", rs->dir);
        return 1;
    }
    for (size_t i = 0; i < rs->npacks; i++) dirs[i] = rs->packs[i].dir;
    char tmp[1100] = ":memory:";
    if (opts && opts->kb_path) {
        /* create the directory the database goes into (var/ on a fresh checkout) */
        char parent[1100];
        snprintf(parent, sizeof parent, "%s", opts->kb_path);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = '\0';
            mkdir(parent, 0750);
        }
        snprintf(tmp, sizeof tmp, "%s.tmp%ld", opts->kb_path, (long)getpid());
        unlink(tmp);
    }
    sqlite3 *db = NULL;
    int errors = 0;
    if (cds_create_private(tmp) != 0 || sqlite3_open(tmp, &db) != SQLITE_OK) {
        cds_strbuf_printf(diag, "%s: cannot open: %s\n", tmp, sqlite3_errmsg(db));
        errors++;
        goto done;
    }
    sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL, NULL);
    if (cds_kb_import(db, dirs, rs->npacks, diag, opts && opts->progress) != CDS_OK) { errors++; goto done; }
    cds_error err;
    if (cds_kb_load(db, &rs->kb, &err) != CDS_OK) {
        cds_strbuf_printf(diag, "%s\n", err.message);
        errors++;
        goto done;
    }
done:
    sqlite3_close(db);
    if (opts && opts->kb_path) {
        if (!errors && rename(tmp, opts->kb_path) != 0) {
            cds_strbuf_printf(diag, "%s: cannot write the knowledge base\n", opts->kb_path);
            errors++;
        }
        unlink(tmp);
    }
    free(dirs);
    return errors;
}

/* Appends the service_notes its rules give for its hook to a service's description, so text that
 * echoes a rule's data (the interaction site policy) is made from that data at load. */
static int add_service_notes(cds_ruleset *rs, cds_service *sv, cds_strbuf *diag)
{
    cds_strbuf d;
    cds_strbuf_init(&d);
    if (sv->description) cds_strbuf_puts(&d, sv->description);
    bool added = false;
    for (size_t k = 0; k < sv->nrules; k++) {
        const cds_rule_info *r = &rs->rules[sv->rules[k]];
        for (size_t n = 0; n < r->nnotes; n++) {
            if (!sv->hook || strcmp(r->note_hooks[n], sv->hook) != 0) continue;
            if (d.len) cds_strbuf_putc(&d, ' ');
            cds_strbuf_puts(&d, r->notes[n]);
            added = true;
        }
    }
    if (!added) {
        cds_strbuf_free(&d);
        return 0;
    }
    if (d.oom) {
        cds_strbuf_free(&d);
        cds_strbuf_printf(diag, "%s/manifest.lua: out of memory describing the services\n", rs->dir);
        return 1;
    }
    free(sv->description);
    sv->description = d.data;   /* the buffer's NUL-terminated text, now the service's */
    return 0;
}

static int resolve_services(cds_ruleset *rs, char ***patterns, size_t *npatterns, cds_strbuf *diag)
{
    int errors = 0;
    for (size_t s = 0; s < rs->nservices; s++) {
        cds_service *sv = &rs->services[s];
        sv->rules = calloc(rs->nrules ? rs->nrules : 1, sizeof *sv->rules);
        if (!sv->rules) {
            cds_strbuf_printf(diag, "%s/manifest.lua: out of memory resolving the services\n", rs->dir);
            return errors + 1;
        }
        for (size_t p = 0; p < npatterns[s]; p++) {
            size_t matched = 0;
            for (size_t r = 0; r < rs->nrules; r++) {
                if (fnmatch(patterns[s][p], rs->rules[r].id, 0) != 0) continue;
                matched++;
                bool hook = false, dup = false;
                for (size_t h = 0; h < rs->rules[r].nhooks; h++) hook |= sv->hook && strcmp(rs->rules[r].hooks[h], sv->hook) == 0;
                for (size_t k = 0; k < sv->nrules; k++) dup |= sv->rules[k] == r;
                if (hook && !dup) sv->rules[sv->nrules++] = r;
            }
            if (!matched) {
                cds_strbuf_printf(diag, "%s/manifest.lua: service '%s': no rule matches '%s'\n", rs->dir,
                                  sv->id ? sv->id : "?", patterns[s][p]);
                errors++;
            }
        }
        errors += add_service_notes(rs, sv, diag);
    }
    return errors;
}

cds_rc cds_ruleset_load(const char *dir, const cds_ruleset_opts *opts, cds_ruleset **out, cds_strbuf *diag)
{
    *out = NULL;
    cds_ruleset *rs = calloc(1, sizeof *rs);
    if (rs && !(rs->dir = strdup(dir))) {
        free(rs);
        rs = NULL;
    }
    if (!rs) {
        cds_strbuf_printf(diag, "%s: out of memory loading the rule set\n", dir);
        return CDS_ELOAD;
    }
    size_t dl = strlen(rs->dir);
    while (dl > 1 && rs->dir[dl - 1] == '/') rs->dir[--dl] = '\0';
    if (opts) rs->limits = opts->limits;
    int errors = 0;
    char ***patterns = NULL;
    size_t *npatterns = NULL;
    cds_digest *dg = cds_digest_new();

    char mpath[1100], where[600];
    snprintf(mpath, sizeof mpath, "%s/manifest.lua", rs->dir);
    cds_sandbox *sb = declaration_sandbox("ruleset", diag);
    if (!sb) { errors++; goto done; }
    if (!run_declaration(sb, mpath, "ruleset", where, sizeof where, diag)) {
        errors++;
    } else {
        lua_State *L = cds_sandbox_L(sb);
        cds_ltab t = {L, lua_gettop(L), where, "ruleset", diag, 0, NULL};
        static const char *const allowed[] = {"name", "version", "source", "services", NULL};
        cds_ltab_allow(&t, allowed);
        rs->name = cds_ltab_str(&t, "name", true);
        rs->version = cds_ltab_str(&t, "version", true);
        rs->source_label = cds_ltab_str(&t, "source", true);
        errors += t.errors + parse_services(rs, L, t.idx, where, diag, &patterns, &npatterns);
        lua_pop(L, 1);
    }
    cds_sandbox_free(sb);
    errors += digest_file(dg, rs->dir, mpath, diag);
    errors += load_packs(rs, dg, diag);
    if (errors) goto done;
    errors += build_kb(rs, opts, diag);
    if (errors) goto done;
    cds_sandbox *rsb = cds_rule_state_new(&rs->limits, diag);
    if (rsb) {
        cds_rule_state_set_kb(rsb, rs->kb);   /* order_set { } checks its drugs against it */
        cds_rule_state_set_tables(rsb, rs->tables, rs->ntables);
    }
    if (!rsb || !cds_rule_decls_run(rsb, rs->files, rs->nfiles, &rs->rules, NULL, &rs->nrules, diag)) errors++;
    cds_sandbox_free(rsb);
    if (errors) goto done;
    errors += resolve_services(rs, patterns, npatterns, diag);
done:
    cds_digest_final(dg, rs->digest);
    for (size_t s = 0; patterns && s < rs->nservices; s++) cds_free_strlist(patterns[s], npatterns[s]);
    free(patterns);
    free(npatterns);
    if (errors) {
        cds_ruleset_free(rs);
        return CDS_ELOAD;
    }
    *out = rs;
    return CDS_OK;
}

void cds_ruleset_free(cds_ruleset *rs)
{
    if (!rs) return;
    for (size_t i = 0; i < rs->nservices; i++) {
        cds_service *s = &rs->services[i];
        free(s->id); free(s->hook); free(s->title); free(s->description); free(s->usage);
        cds_free_strlist(s->prefetch_keys, s->nprefetch);
        cds_free_strlist(s->prefetch_templates, s->nprefetch);
        free(s->prefetch_required);
        free(s->rules);
    }
    free(rs->services);
    cds_rule_infos_free(rs->rules, rs->nrules);
    for (size_t i = 0; i < rs->npacks; i++) {
        free(rs->packs[i].name); free(rs->packs[i].version); free(rs->packs[i].owner); free(rs->packs[i].dir);
    }
    free(rs->packs);
    for (size_t i = 0; i < rs->nfiles; i++) { free(rs->files[i].path); free(rs->files[i].src); }
    free(rs->files);
    for (size_t i = 0; i < rs->ntables; i++) { free(rs->tables[i].path); free(rs->tables[i].src); }
    free(rs->tables);
    cds_kb_free(rs->kb);
    free(rs->dir); free(rs->name); free(rs->version); free(rs->source_label);
    free(rs);
}

const cds_service *cds_ruleset_service(const cds_ruleset *rs, const char *id)
{
    for (size_t i = 0; id && i < rs->nservices; i++)
        if (strcmp(rs->services[i].id, id) == 0) return &rs->services[i];
    return NULL;
}

static void kv(msgpack_packer *pk, const char *k, const char *v)
{
    cds_mp_pack_str(pk, k);
    cds_mp_pack_str(pk, v);
}

void cds_ruleset_pack_discovery(const cds_ruleset *rs, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    cds_mp_pack_str(pk, "services");
    msgpack_pack_array(pk, rs->nservices);
    for (size_t i = 0; i < rs->nservices; i++) {
        const cds_service *s = &rs->services[i];
        size_t n = 3 + (s->title != NULL) + (s->nprefetch > 0) + (s->usage != NULL);
        msgpack_pack_map(pk, n);
        kv(pk, "hook", s->hook);
        if (s->title) kv(pk, "title", s->title);
        kv(pk, "description", s->description);
        kv(pk, "id", s->id);
        if (s->nprefetch) {
            cds_mp_pack_str(pk, "prefetch");
            msgpack_pack_map(pk, s->nprefetch);
            for (size_t k = 0; k < s->nprefetch; k++) kv(pk, s->prefetch_keys[k], s->prefetch_templates[k]);
        }
        if (s->usage) kv(pk, "usageRequirements", s->usage);
    }
}
