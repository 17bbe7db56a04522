/*
 * catalog.h: what the database holds, read from pg_catalog: tables, partitioned-table roots and
 * views in the configured schemas, their columns with resolved types, keys and publication
 * membership; and a type cache resolving any type OID (domains to base types, arrays to their
 * elements) for the change stream, whose Relation messages carry only OIDs.
 */
#ifndef SP_CATALOG_H
#define SP_CATALOG_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "typeconv.h"

typedef struct sp_column
{
	char	   *name;
	int			attnum;
	uint32_t	type_oid;		/* as declared (may be a domain) */
	char	   *type_name;		/* format_type() of the declared type */
	char	   *collation;		/* its collation when not its type's default (quoted), or NULL */
	tc_type		type;			/* resolved conversion */
	bool		not_null;
} sp_column;

typedef struct sp_table
{
	uint32_t	oid;
	char	   *ns;
	char	   *name;
	char		relkind;		/* 'r' table, 'p' partitioned, 'v' view, 'm' matview, 'f' foreign */
	char		replident;		/* 'd', 'n', 'f', 'i' */
	bool		in_publication;
	bool		added_to_publication;	/* by this read: its earlier changes were not decoded */
	uint32_t	publication_rel;	/* its pg_publication_rel row's OID (0: none, FOR ALL TABLES) */
	char	   *partition_without_identity; /* partitions with no replica identity, or NULL */
	char	   *unlogged;		/* it, or its partitions, if UNLOGGED or foreign (not in the WAL) */
	bool		has_children;	/* inheritance children (or partitions): their rows are its own */
	/*
	 * A partitioned table: its leaf partitions, "oid/xid,..." by OID, each with the newest xmin
	 * of the pg_inherits rows from it up to the table (the CREATE or ATTACH that made it one).
	 * Outside CDC, an inheritance parent's children alike (NULL when it has none): Standard and
	 * Xmin read them with it, and an INHERIT is no more a change than an ATTACH.
	 */
	char	   *partitions;
	bool		unpopulated;	/* a materialized view never refreshed: it cannot be read */
	bool		table_select;	/* SELECT on the table, not only on columns (ctid, xmin) */
	bool		is_partition;	/* a partition listed itself (no ancestor is): full refresh only */
	bool		unpublishable;	/* a partitioned table before PostgreSQL 13: not publishable */
	bool		has_generated;	/* a stored generated column among cols (COPY by name refuses it) */
	int			ncols;
	sp_column  *cols;
	int			nunread;		/* columns it has that are not read (not readable, or generated */
	char	  **unread;			/* in CDC): their names */
	int			nkey;			/* primary key (or unique not-null index) columns */
	int		   *key;			/* indexes into cols, in key order */
	bool		key_is_pk;		/* the key is the primary key */
	bool		key_is_replident;	/* the key's index is the replica identity index */
	double		reltuples;
	int64_t		relbytes;
} sp_table;

typedef struct sp_catalog
{
	int			ntables;
	sp_table   *tables;
} sp_catalog;

/* Read every readable table/view in cfg->schemas. Records an error and returns false on failure. */
bool		catalog_load(PGconn *conn, const config_t *cfg, sp_catalog *out);
void		catalog_free(sp_catalog *cat);
/* The table with this namespace and name, or NULL (borrowed). */
sp_table   *catalog_find(sp_catalog *cat, const char *ns, const char *name);
/* The first table named name in any schema (borrowed), and in *nfound how many there are. */
sp_table   *catalog_find_name(sp_catalog *cat, const char *name, int *nfound);
/* The column with this name, or -1. */
int			table_column(const sp_table *t, const char *name);

/* Whether a table can be captured by CDC (a base or partitioned table with a usable identity). */
bool		table_cdc_capable(const sp_table *t);
/* The AirbyteStream JSON for a table; new reference. */
json_t	   *table_stream_json(const sp_table *t, const config_t *cfg);

/* ---- type cache ---- */

typedef struct sp_typecache sp_typecache;

sp_typecache *typecache_new(void);
void		typecache_free(sp_typecache *tc);
/*
 * Resolve a type OID to its conversion (ndims is the declared dimension count for arrays, 0 if
 * unknown). Looks the OID up in pg_catalog on first use. False (error recorded) on failure.
 */
bool		typecache_resolve(sp_typecache *tc, PGconn *conn, uint32_t oid, int ndims, tc_type *out);
/*
 * Whether a type resolved before no longer exists (a change carries the type of a column that was
 * dropped since): typecache_resolve gave text for it.
 */
bool		typecache_missing(const sp_typecache *tc, uint32_t oid);

#endif
