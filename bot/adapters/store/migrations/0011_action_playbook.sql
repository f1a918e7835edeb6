-- Many playbooks (docs/many-playbooks.md): an approval request records the playbook
-- it was made in, so a click on it runs in that playbook (its policy, namespace and
-- deployments) even when no incident was open, and each playbook expires only its
-- own requests. Rows from before have none: they belong to their incident's
-- playbook, or to the only playbook.
ALTER TABLE action_requests ADD COLUMN playbook text;
