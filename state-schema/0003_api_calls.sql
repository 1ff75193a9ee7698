-- terrane state, schema version 3: how many AWS API calls each operation made, so a plan
-- can say how many calls its apply will make (averaged per resource type and operation).
ALTER TABLE journal ADD COLUMN api_calls INTEGER;
