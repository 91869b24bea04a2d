-- The three Nexmark streams, read from the files `generate.flow` writes
-- (`${DATA}` is their folder), as the tables and views every query reads:
-- `person`, `auction` and `bid`, with Nexmark's columns and types and the
-- watermark 4 s behind `dateTime`. Times are read from whole milliseconds
-- (`dateTime_ms`, `expires_ms`), the files' exact form of `TIMESTAMP(3)`.
SET 'table.local-time-zone' = 'UTC';

CREATE TABLE person_file (
  id BIGINT, name STRING, emailAddress STRING, creditCard STRING, city STRING, state STRING,
  dateTime_ms BIGINT, extra STRING,
  `dateTime` AS CAST(TO_TIMESTAMP_LTZ(dateTime_ms, 3) AS TIMESTAMP(3)),
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DATA}/person.jsonl', 'format' = 'json');

CREATE TABLE auction_file (
  id BIGINT, itemName STRING, description STRING, initialBid BIGINT, reserve BIGINT,
  dateTime_ms BIGINT, expires_ms BIGINT, seller BIGINT, category BIGINT, extra STRING,
  `dateTime` AS CAST(TO_TIMESTAMP_LTZ(dateTime_ms, 3) AS TIMESTAMP(3)),
  expires AS CAST(TO_TIMESTAMP_LTZ(expires_ms, 3) AS TIMESTAMP(3)),
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DATA}/auction.jsonl', 'format' = 'json');

CREATE TABLE bid_file (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
  dateTime_ms BIGINT, extra STRING,
  `dateTime` AS CAST(TO_TIMESTAMP_LTZ(dateTime_ms, 3) AS TIMESTAMP(3)),
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DATA}/bid.jsonl', 'format' = 'json');

CREATE VIEW person AS
SELECT id, name, emailAddress, creditCard, city, state, `dateTime`, extra FROM person_file;

CREATE VIEW auction AS
SELECT id, itemName, description, initialBid, reserve, `dateTime`, expires, seller, category, extra
FROM auction_file;

CREATE VIEW bid AS
SELECT auction, bidder, price, channel, url, `dateTime`, extra FROM bid_file;
