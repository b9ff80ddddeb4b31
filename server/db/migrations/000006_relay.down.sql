DROP TABLE relay_agents;
DROP TABLE relay_processes;
