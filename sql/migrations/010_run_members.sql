-- The members of a group in one discovery run, defined once for every query that filters profiles
-- by segment or archetype (customer lists and their export, segment details, recommendations,
-- behaviour). A SQL-language STABLE function of one SELECT is inlined by the planner, so each
-- query keeps its own plan (index-only scans included); NULL axis / archetype means "any".
CREATE FUNCTION run_members(p_run_id bigint, p_axis text, p_segment text, p_archetype_id text)
RETURNS SETOF customer_profiles
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT *
    FROM customer_profiles p
    WHERE p.run_id = p_run_id
      AND (p_axis IS NULL OR p.dominant_segments ->> p_axis = p_segment)
      AND (p_archetype_id IS NULL OR p.archetype_id = p_archetype_id)
$$;
