-- The quick start's sample databases (deploy/quickstart.sh runs this as MariaDB's root).
-- shop.* is covered by the sample log backup task pitr-shop, dw.* by the changefeed cf-dw,
-- staging.* by nothing.
CREATE DATABASE IF NOT EXISTS shop;
CREATE DATABASE IF NOT EXISTS dw;
CREATE DATABASE IF NOT EXISTS staging;
CREATE TABLE IF NOT EXISTS shop.orders (id INT PRIMARY KEY, customer VARCHAR(32), amount DECIMAL(10,2));
CREATE TABLE IF NOT EXISTS dw.dim_customer (id INT PRIMARY KEY, name VARCHAR(32));
CREATE TABLE IF NOT EXISTS staging.events (id INT PRIMARY KEY, payload VARCHAR(64));
-- 'app' may do anything; 'loader' is the user the demo's `logical` rule applies to. FILE lets
-- MariaDB read the CSV from its own disk for LOAD DATA INFILE (TiDB reads s3:// instead).
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app';
GRANT ALL ON *.* TO 'app'@'%';
CREATE USER IF NOT EXISTS 'loader'@'%' IDENTIFIED BY 'loader';
GRANT ALL ON shop.* TO 'loader'@'%';
GRANT FILE ON *.* TO 'loader'@'%';
CREATE DATABASE IF NOT EXISTS test;
FLUSH PRIVILEGES;
