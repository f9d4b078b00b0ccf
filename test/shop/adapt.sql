-- Included by test/shop/evaluate.sql: the evaluated customers' embeddings from
-- model :model into table :emb, adapted on their rows before the cut (only the
-- clicks and purchases with :positives); a customer without any gets the cold
-- one (its profile's, from the members relation).
\if :with_ids
CREATE TEMP TABLE :emb AS
SELECT member_id, limaml_adapt_agg(:'model', member_features, item_features, label, ts, item_id) AS embedding
  FROM before_cut WHERE member_id IN (SELECT member_id FROM evaluated) AND (NOT :positives OR label = 1)
 GROUP BY member_id;
\else
CREATE TEMP TABLE :emb AS
SELECT member_id, limaml_adapt_agg(:'model', member_features, item_features, label, ts) AS embedding
  FROM before_cut WHERE member_id IN (SELECT member_id FROM evaluated) AND (NOT :positives OR label = 1)
 GROUP BY member_id;
\endif
INSERT INTO :emb SELECT member_id, limaml_adapt(member_id, :'model') FROM evaluated
 WHERE member_id NOT IN (SELECT member_id FROM :emb);
