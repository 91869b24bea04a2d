-- q13: every bid with the side input's row for `auction % 10000`. The
-- side input is a file that does not change, joined with a regular join
-- (Flink 2.3 runs no processing-time temporal join of a filesystem table).
CREATE TABLE side_input (key BIGINT, `value` VARCHAR)
WITH ('connector' = 'filesystem', 'path' = '${SIDE_INPUT}', 'format' = 'csv');

CREATE TABLE nexmark_q13 (
  auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), `value` VARCHAR
) WITH ('connector' = 'print');

INSERT INTO nexmark_q13
SELECT B.auction, B.bidder, B.price, B.`dateTime`, S.`value`
FROM bid B
JOIN side_input AS S ON MOD(B.auction, 10000) = S.key;
