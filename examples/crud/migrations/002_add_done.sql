ALTER TABLE todos ADD COLUMN done boolean NOT NULL DEFAULT false;
ALTER TABLE todos ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
