
backup"	pitr-shop€€â‚ù×ü·ÿÿÿÿÿÿÿÿ"	pitr-shop*shop.*0