DROP TABLE workspace_proxies;
