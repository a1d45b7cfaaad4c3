-- The live TV vote: every vote is a row; the tally is a materialized view that the
-- page at /examples/live-votes/ shows as a live bar chart.
CREATE TABLE votes (user_id BIGINT, contestant TEXT NOT NULL, ts TIMESTAMP);
CREATE MATERIALIZED VIEW tally AS
  SELECT contestant, count(*) AS votes FROM votes GROUP BY contestant;
