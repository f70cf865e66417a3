-- A user an administrator disabled: kept (name, roles, tenant, the audit
-- trail's references), refused at login until enabled again.
ALTER TABLE app_user ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
