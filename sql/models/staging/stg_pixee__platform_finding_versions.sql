{{ config(enabled=pixee_is_platform(), materialized='table') }}
-- Platform source: every state of every finding, in the shape the v1 staging gives a finding's
-- versions (so the intermediate models read both alike). A finding is (repository, detector, id)
-- followed over its stream: the scans of that repository and detector on the default branch or on
-- no branch. Its state changes only at events, in time order: a stream scan's imported_at (listed
-- or not), and a triage result's analyzed_at (only true_positive / false_positive / wont_fix
-- classify; any result sets triage_suggested). Each event time gives one version (updated_at = the
-- event time), the state after the last event at that time.
-- Equal times: scans before triage results (a result is about what a scan imported); a result
-- analysed before the finding's first listing takes effect at that listing.
with scans as (
    select * from {{ ref('stg_pixee__platform_scans') }}
),

finding_rows as (
    select * from {{ ref('stg_pixee__platform_finding_rows') }}
),

stream_scans as (
    select scan_id, repository_id, detector, imported_at
    from scans
    where is_stream and imported_at is not null
),

-- one row per (stream scan, finding it lists), with the listing's values (the row as last read)
listings as (
    select
        stream_scans.repository_id,
        stream_scans.detector,
        finding_rows.finding_id,
        stream_scans.scan_id,
        stream_scans.imported_at,
        finding_rows.rule_id,
        finding_rows.title,
        finding_rows.severity
    from finding_rows
    inner join stream_scans
        on finding_rows.scan_id = stream_scans.scan_id
    where finding_rows.is_current
),

-- detected at its first listing that the warehouse saw
first_listings as (
    select
        repository_id,
        detector,
        finding_id,
        min(imported_at) as detected_at
    from listings
    group by repository_id, detector, finding_id
),

-- a number per finding: the windows below partition by it rather than by three strings
findings as (
    select
        first_listings.*,
        row_number() over (order by repository_id, detector, finding_id) as finding_number
    from first_listings
),

-- every stream scan from the finding's first listing on: listed by it, or not
scan_events as (
    select
        findings.finding_number,
        findings.repository_id,
        findings.detector,
        findings.finding_id,
        findings.detected_at,
        stream_scans.imported_at as event_at,
        0 as event_kind,
        stream_scans.imported_at as event_order_at,
        stream_scans.scan_id as tiebreak,
        case when listings.scan_id is not null then 1 else 0 end as is_listed,
        listings.scan_id as listed_scan_id,
        listings.rule_id,
        listings.title,
        listings.severity,
        cast(null as {{ dbt.type_string() }}) as suggested,
        cast(null as {{ dbt.type_string() }}) as decided,
        cast(null as {{ dbt.type_timestamp() }}) as analyzed_at
    from findings
    inner join stream_scans
        on findings.repository_id = stream_scans.repository_id
        and findings.detector = stream_scans.detector
        and stream_scans.imported_at >= findings.detected_at
    left join listings
        on stream_scans.scan_id = listings.scan_id
        and findings.finding_id = listings.finding_id
),

-- a triage result counts once however many stream rows (and versions of them) carry it
triage_results as (
    select distinct
        stream_scans.repository_id,
        stream_scans.detector,
        finding_rows.finding_id,
        finding_rows.triage_analyzed_at as analyzed_at,
        finding_rows.triage_suggested as suggested
    from finding_rows
    inner join stream_scans
        on finding_rows.scan_id = stream_scans.scan_id
    where finding_rows.triage_analyzed_at is not null
),

triage_events as (
    select
        findings.finding_number,
        findings.repository_id,
        findings.detector,
        findings.finding_id,
        findings.detected_at,
        case when triage_results.analyzed_at < findings.detected_at then findings.detected_at
            else triage_results.analyzed_at end as event_at,
        1 as event_kind,
        triage_results.analyzed_at as event_order_at,
        coalesce(triage_results.suggested, '') as tiebreak,
        cast(null as integer) as is_listed,
        cast(null as {{ dbt.type_string() }}) as listed_scan_id,
        cast(null as {{ dbt.type_string() }}) as rule_id,
        cast(null as {{ dbt.type_string() }}) as title,
        cast(null as {{ dbt.type_string() }}) as severity,
        triage_results.suggested,
        case lower(triage_results.suggested)
            when 'true_positive' then 'TRUE_POSITIVE'
            when 'false_positive' then 'FALSE_POSITIVE'
            when 'wont_fix' then 'WONT_FIX'
        end as decided,
        triage_results.analyzed_at
    from triage_results
    inner join findings
        on triage_results.repository_id = findings.repository_id
        and triage_results.detector = findings.detector
        and triage_results.finding_id = findings.finding_id
),

events as (
    select * from scan_events
    union all
    select * from triage_events
),

{%- set finding = 'finding_number' %}
{%- set running = 'over (partition by ' ~ finding ~ ' order by seq rows between unbounded preceding and current row)' %}

ordered_events as (
    select
        events.*,
        row_number() over (
            partition by {{ finding }} order by event_at, event_kind, event_order_at, tiebreak
        ) as seq
    from events
),

-- each kind of event starts a group of the events up to the next of its kind: the value it set
-- holds for its whole group (the first event is always the first listing, a scan)
event_groups as (
    select
        ordered_events.*,
        sum(case when event_kind = 0 then 1 else 0 end) {{ running }} as scan_group,
        sum(case when is_listed = 1 then 1 else 0 end) {{ running }} as listing_group,
        sum(case when event_kind = 1 then 1 else 0 end) {{ running }} as triage_group,
        sum(case when decided is not null then 1 else 0 end) {{ running }} as decision_group
    from ordered_events
),

carried as (
    select
        event_groups.*,
        max(is_listed) over (partition by {{ finding }}, scan_group) as listed_now,
        max(listed_scan_id) over (partition by {{ finding }}, listing_group) as last_listed_scan_id,
        max(rule_id) over (partition by {{ finding }}, listing_group) as last_rule_id,
        max(title) over (partition by {{ finding }}, listing_group) as last_title,
        max(severity) over (partition by {{ finding }}, listing_group) as last_severity,
        max(suggested) over (partition by {{ finding }}, triage_group) as triage_suggested,
        max(decided) over (partition by {{ finding }}, decision_group) as classification
    from event_groups
),

-- triaged_at: the first decisive result that gave the current classification
classification_changes as (
    select
        carried.*,
        case when decided is not null
            and (lag(classification) over (partition by {{ finding }} order by seq) is null
                or lag(classification) over (partition by {{ finding }} order by seq) <> decided)
            then 1 else 0 end as is_change
    from carried
),

change_groups as (
    select
        classification_changes.*,
        sum(is_change) {{ running }} as change_group
    from classification_changes
),

-- the state while the stream's latest scan lists it: dismissed by a false positive or won't fix,
-- else open
listed_states as (
    select
        change_groups.*,
        max(case when is_change = 1 then analyzed_at end)
            over (partition by {{ finding }}, change_group) as triaged_at
    from change_groups
),

listed_statuses as (
    select
        listed_states.*,
        case when classification in ('FALSE_POSITIVE', 'WONT_FIX') then 'dismissed' else 'open' end
            as listed_status,
        case when classification in ('FALSE_POSITIVE', 'WONT_FIX') then triaged_at end as listed_resolved_at,
        -- each listed event starts a group with the unlisted events after it: while the latest scan
        -- does not list it, the status it had at its last listed event holds (a triage result then
        -- changes classification and triaged_at only)
        sum(listed_now) {{ running }} as unlisted_group
    from listed_states
),

states as (
    select
        listed_statuses.*,
        max(case when listed_now = 1 then listed_status end)
            over (partition by {{ finding }}, unlisted_group) as frozen_status,
        max(case when listed_now = 1 then listed_resolved_at end)
            over (partition by {{ finding }}, unlisted_group) as frozen_resolved_at,
        -- the first stream scan after a listing that no longer lists it
        min(case when listed_now = 0 then event_at end)
            over (partition by {{ finding }}, unlisted_group) as dropped_at
    from listed_statuses
),

resolved_states as (
    select
        states.*,
        case
            when listed_now = 1 then listed_status
            when frozen_status = 'open' then 'fixed'
            else frozen_status
        end as status,
        case
            when listed_now = 1 then listed_resolved_at
            when frozen_status = 'open' then dropped_at
            else frozen_resolved_at
        end as resolved_at,
        row_number() over (partition by {{ finding }}, event_at order by seq desc) as last_at_time
    from states
),

final as (
    select
        -- ids: finding_key identifies a finding within the source
        cast(finding_id as {{ dbt.type_string() }}) as finding_id,
        {{ pixee_finding_key('repository_id', 'detector', 'finding_id') }} as finding_key,
        cast(repository_id as {{ dbt.type_string() }}) as repository_id,
        cast(last_listed_scan_id as {{ dbt.type_string() }}) as scan_id,
        -- strings
        cast(last_rule_id as {{ dbt.type_string() }}) as rule_id,
        cast(detector as {{ dbt.type_string() }}) as detection_tool,
        cast(last_title as {{ dbt.type_string() }}) as title,
        cast(last_severity as {{ dbt.type_string() }}) as severity,
        cast(null as {{ dbt.type_string() }}) as cwe,
        cast(null as {{ dbt.type_string() }}) as path,
        cast(null as {{ dbt.type_string() }}) as triage_status,
        cast(classification as {{ dbt.type_string() }}) as classification,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(triage_suggested as {{ dbt.type_string() }}) as triage_suggested,
        -- numerics
        cast(null as {{ dbt.type_bigint() }}) as start_line,
        cast(null as double) as confidence,
        -- timestamps (UTC)
        cast(detected_at as {{ dbt.type_timestamp() }}) as detected_at,
        cast(triaged_at as {{ dbt.type_timestamp() }}) as triaged_at,
        cast(resolved_at as {{ dbt.type_timestamp() }}) as resolved_at,
        cast(detected_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(event_at as {{ dbt.type_timestamp() }}) as updated_at
    from resolved_states
    where last_at_time = 1
)

select * from final
