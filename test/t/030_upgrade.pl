# ALTER EXTENSION limaml UPDATE from every earlier version, with data: a
# database made by the old version keeps its models and versions (which get
# their identity), refuses its format 1 meta embeddings until limaml_refresh
# re-adapts them, then scores as before, and ends with exactly the objects of
# a fresh install of the newest version.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('upgrade', no_extension => 1);

my $newest = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'limaml'});

# every object of the extension, with what a user relies on: signatures,
# results, volatility, security, pinned settings, columns and comments
my $describe_sql = q{
	WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'limaml'),
	objs AS (
		SELECT pg_describe_object(d.classid, d.objid, 0) AS what, d.classid, d.objid
		  FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e')
	SELECT string_agg(line, E'\n' ORDER BY line) FROM (
		SELECT what || coalesce(' -- ' || obj_description(objid, classid::regclass::text), '') AS line FROM objs
		UNION ALL
		SELECT p.oid::regprocedure::text || ' -> ' || pg_get_function_result(p.oid)
		       || ' ' || p.provolatile::text || p.proparallel::text || p.prosecdef::text || p.proisstrict::text
		       || ' ' || coalesce(p.proconfig::text, '') || ' ' || md5(p.prosrc)
		  FROM objs JOIN pg_proc p ON objs.classid = 'pg_proc'::regclass AND p.oid = objs.objid
		UNION ALL
		SELECT c.oid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
		       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
		       || coalesce(' -- ' || col_description(c.oid, a.attnum), '')
		  FROM objs JOIN pg_class c ON objs.classid = 'pg_class'::regclass AND c.oid = objs.objid
		  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
		UNION ALL
		SELECT pg_get_constraintdef(con.oid) || ' on ' || con.conrelid::regclass::text
		  FROM objs JOIN pg_constraint con ON objs.classid = 'pg_class'::regclass AND con.conrelid = objs.objid
		UNION ALL
		SELECT 'kept by pg_dump: ' || c::regclass::text FROM pg_extension e, unnest(e.extconfig) c
		 WHERE e.extname = 'limaml'
		UNION ALL
		SELECT pg_get_triggerdef(t.oid)
		  FROM objs JOIN pg_trigger t ON objs.classid = 'pg_class'::regclass AND t.tgrelid = objs.objid
		 WHERE NOT t.tgisinternal
		UNION ALL
		SELECT c.oid::regclass::text || ' rls ' || c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text
		       || ' options ' || coalesce(c.reloptions::text, '') || ' acl ' || coalesce(c.relacl::text, '')
		  FROM objs JOIN pg_class c ON objs.classid = 'pg_class'::regclass AND c.oid = objs.objid
		UNION ALL
		SELECT 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass::text || ' ' || pol.polcmd::text
		       || ' ' || pol.polpermissive::text || ' ' || pol.polroles::text
		       || ' using ' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
		       || ' check ' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')
		       || coalesce(' -- ' || obj_description(pol.oid, 'pg_policy'), '')
		  FROM objs JOIN pg_policy pol ON objs.classid = 'pg_class'::regclass AND pol.polrelid = objs.objid
		UNION ALL
		SELECT p.oid::regprocedure::text || ' acl ' || coalesce(p.proacl::text, '')
		  FROM objs JOIN pg_proc p ON objs.classid = 'pg_proc'::regclass AND p.oid = objs.objid) lines};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION limaml');
my $fresh = $node->safe_psql('fresh', $describe_sql);

my $superuser = $node->safe_psql('postgres', 'SELECT current_user');
$node->safe_psql('postgres', 'CREATE ROLE tenant');

my @versions = grep { $_ ne $newest } split /\n/, $node->safe_psql('postgres',
	q{SELECT version FROM pg_available_extension_versions WHERE name = 'limaml' ORDER BY version});
ok(@versions >= 1, 'earlier versions are installable: ' . join(', ', @versions));

for my $old (@versions)
{
	my $db = "from_$old";
	$db =~ s/\./_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION limaml VERSION '$old'");
	planted_data($node, db => $db, n_members => 60, per_member => 30);

	# owners on update: a model over a tenant's view belongs to the tenant,
	# one imported without a source to the extension's owner
	$node->safe_psql($db, q{
		CREATE VIEW tenant_interactions AS SELECT * FROM planted_interactions;
		GRANT SELECT ON planted_interactions TO tenant;
		ALTER VIEW tenant_interactions OWNER TO tenant;
		SELECT limaml_create_model('tenant_m', 'tenant_interactions', embedding_dim => 4, seed => 3);
		SELECT limaml_model_import('sourceless', limaml_model_export('tenant_m'));});

	# a trained model, its embeddings stored as a batch job would, and scores
	$node->safe_psql($db, q{
		SELECT limaml_create_model('m', 'planted_interactions', embedding_dim => 4, seed => 3);
		SELECT limaml_train('m', epochs => 2);
		CALL limaml_refresh('m');
		CREATE TABLE scores_before AS
		SELECT e.member_id, i.item_id, limaml_score(e.embedding, i.features) AS score
		  FROM limaml_meta_embedding e, planted_items i WHERE e.model = 'm'});

	$node->safe_psql($db, 'ALTER EXTENSION limaml UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'limaml'}),
		$newest, "$old: updated to $newest");

	# the models got their identity; embeddings of format 1 name a model by a
	# local id, which may mean another model elsewhere: not scored, with the
	# way out (README, Upgrading), and limaml_refresh repairs them
	is($node->safe_psql($db, q{
		SELECT count(DISTINCT m.model_uuid) = count(DISTINCT m.model_id)
		       AND bool_and(v.content_hash = limaml_content_hash(m.config, v.params))
		  FROM limaml_model m JOIN limaml_model_version v USING (model_id)}),
		't', "$old: every model has a UUID of its own, every version its content hash");
	my ($ret, $out, $err) = $node->psql($db, q{
		SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}') FROM limaml_meta_embedding WHERE model = 'm' LIMIT 1},
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/ERROR:  55000: limaml meta embedding of format 1 .*\n.*HINT:  .*limaml_refresh/s,
		"$old: a format 1 embedding is not scored, the error says how to re-adapt");
	$node->safe_psql($db, q{CALL limaml_refresh('m')});
	is($node->safe_psql($db, q{
		SELECT count(*) FILTER (WHERE abs(b.score - limaml_score(e.embedding, i.features)) > 1e-6)
		       || '/' || count(*) || ':' || bool_and(get_byte(e.embedding, 4) = 2)
		  FROM scores_before b JOIN limaml_meta_embedding e ON e.model = 'm' AND e.member_id = b.member_id
		  JOIN planted_items i ON i.item_id = b.item_id}),
		'0/' . (60 * 64) . ':true', "$old: refresh re-adapts them (format 2), scoring as before the update");

	# the updated database keeps working: train, adapt, refresh
	is($node->safe_psql($db, q{
		SELECT limaml_train('m', epochs => 1) IS NOT NULL;
		CALL limaml_refresh('m');
		SELECT count(*) FROM limaml_meta_embedding e JOIN limaml_model m ON m.name = e.model
		 WHERE e.model = 'm' AND e.model_version = m.active_version}),
		"t\n60", "$old: training and refresh work after the update");

	is($node->safe_psql($db, q{
		SELECT string_agg(name || ':' || owner, ',' ORDER BY name) FROM limaml_model}),
		"m:$superuser,sourceless:$superuser,tenant_m:tenant",
		"$old: models are owned by their source's owner, else the extension's");
	is($node->safe_psql($db, q{SET ROLE tenant;
		SELECT string_agg(name, ',' ORDER BY name) FROM limaml_model;
		SELECT limaml_adapt(1, 'tenant_m') IS NOT NULL}), "tenant_m\nt",
		"$old: the tenant sees and adapts its model only");
	$node->safe_psql($db, q{SELECT limaml_drop_model('tenant_m'); SELECT limaml_drop_model('sourceless')});

	my $updated = $node->safe_psql($db, $describe_sql);
	is($updated, $fresh, "$old: the updated objects equal a fresh install of $newest");
}

$node->stop;
done_testing();
