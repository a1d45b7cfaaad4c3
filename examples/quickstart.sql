-- The live TV vote, embedded: votes stream in, the tally stays exact.
-- Run: cargo run --release -p laaster-cli -- sql -f examples/quickstart.sql

CREATE TABLE contestants (name TEXT PRIMARY KEY, country TEXT NOT NULL);
CREATE TABLE votes (user_id BIGINT NOT NULL, contestant TEXT, ts TIMESTAMP DEFAULT now());

-- The running tally per contestant, maintained incrementally.
CREATE MATERIALIZED VIEW tally AS
  SELECT contestant, count(*) AS n FROM votes GROUP BY contestant;

-- The leader board: the top two, rows enter and leave as counts change.
CREATE MATERIALIZED VIEW leaders AS
  SELECT c.name, c.country, t.n
  FROM contestants c JOIN tally t ON t.contestant = c.name
  ORDER BY t.n DESC, c.name
  LIMIT 2;

-- Contestants nobody has voted for yet (an anti-join kept up to date).
CREATE MATERIALIZED VIEW no_votes AS
  SELECT name FROM contestants c
  WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.contestant = c.name);

INSERT INTO contestants VALUES ('A', 'NL'), ('B', 'SE'), ('C', 'NO');
INSERT INTO votes (user_id, contestant) VALUES (1, 'B'), (2, 'A'), (3, 'B');

SELECT * FROM tally ORDER BY contestant;
SELECT * FROM leaders ORDER BY n DESC, name;
SELECT * FROM no_votes;

-- A voter changes their mind, a fraudulent vote is removed, C gets going.
UPDATE votes SET contestant = 'A' WHERE user_id = 3;
DELETE FROM votes WHERE user_id = 1;
INSERT INTO votes (user_id, contestant) VALUES (4, 'C'), (5, 'C'), (6, 'C');

SELECT * FROM tally ORDER BY contestant;
SELECT * FROM leaders ORDER BY n DESC, name;
SELECT * FROM no_votes;
EXPLAIN DATAFLOW SELECT contestant, count(*) AS n FROM votes GROUP BY contestant;
