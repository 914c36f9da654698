/* rule_tables.c — pack data tables for rules: raw rows out of the rule set's copy (see rule_tables.h). */
#include "rule_tables.h"

#include <lauxlib.h>
#include <lua.h>
#include <string.h>

static const char TABLES_KEY = 'T';

typedef struct tables_ref {
    const cds_source_file *files;
    size_t n;
} tables_ref;

void cds_rule_state_set_tables(cds_sandbox *sb, const cds_source_file *tables, size_t n)
{
    lua_State *L = cds_sandbox_L(sb);
    tables_ref *t = lua_newuserdatauv(L, sizeof *t, 0);
    *t = (tables_ref){tables, n};
    lua_rawsetp(L, LUA_REGISTRYINDEX, &TABLES_KEY);
}

/* "rules/context/tables/drug_disease.tsv" names table "drug_disease" */
static bool names(const char *path, const char *name)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(name);
    return strncmp(base, name, n) == 0 && strcmp(base + n, ".tsv") == 0;
}

/* Pushes the tab-separated fields of [p, end) as a list. */
static void push_fields(lua_State *L, const char *p, const char *end)
{
    lua_newtable(L);
    lua_Integer i = 0;
    for (;;) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *stop = tab ? tab : end;
        const char *a = p, *b = stop;
        while (a < b && (*a == ' ')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\r')) b--;
        lua_pushlstring(L, a, (size_t)(b - a));
        lua_rawseti(L, -2, ++i);
        if (!tab) break;
        p = tab + 1;
    }
}

const cds_source_file *cds_rule_table_find(lua_State *L, const char *name)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TABLES_KEY);
    const tables_ref *t = lua_touserdata(L, -1);
    lua_pop(L, 1);
    for (size_t i = 0; t && i < t->n; i++)
        if (names(t->files[i].path, name)) return &t->files[i];
    return NULL;
}

bool cds_table_next_line(const char **p, const char *end, const char **start, const char **stop, uint32_t *line)
{
    while (*p < end) {
        const char *nl = memchr(*p, '\n', (size_t)(end - *p));
        const char *s = *p, *e = nl ? nl : end;
        *p = nl ? nl + 1 : end;
        ++*line;
        const char *q = s;
        while (q < e && (*q == ' ' || *q == '\r')) q++;
        if (q < e && *s != '#') {
            *start = s;
            *stop = e;
            return true;
        }
    }
    return false;
}

int cds_rule_table_raw(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const cds_source_file *f = cds_rule_table_find(L, name);
    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "no table '%s' (a file tables/%s.tsv in a pack)", name, name);
        return 2;
    }
    luaL_checkstack(L, 8, "table");
    lua_createtable(L, 0, 4);
    lua_pushstring(L, f->path);
    lua_setfield(L, -2, "path");
    lua_newtable(L);   /* rows */
    int rows = lua_gettop(L);
    lua_Integer nrows = 0;
    uint32_t line = 0;
    bool header = false;
    const char *p = f->src, *end = f->src + f->len, *start, *stop;
    while (cds_table_next_line(&p, end, &start, &stop, &line)) {
        if (!header) {
            push_fields(L, start, stop);
            lua_setfield(L, rows - 1, "header");
            lua_pushinteger(L, line);
            lua_setfield(L, rows - 1, "header_line");
            header = true;
        } else {
            lua_createtable(L, 0, 2);
            lua_pushinteger(L, line);
            lua_setfield(L, -2, "line");
            push_fields(L, start, stop);
            lua_setfield(L, -2, "cells");
            lua_rawseti(L, rows, ++nrows);
        }
    }
    lua_setfield(L, rows - 1, "rows");
    return 1;
}
