"""The service layer: every write of the planner goes through here (views and tasks stay thin, selectors
read). One module per thing it serves; import the module you need, this package re-exports nothing.

  estimates            the engine on the live catalog: an estimate, a capacity plan, a break-even
  plans                plans and their versions (create, edit, recompute, delete, diff)
  teams                teams, invitations and memberships (a team always has an admin)
  catalog              API edits of hardware and model rows (recorded in the admin's history), config.json
  measurements         a team's benchmark files, uploaded as measurement sets
  calibrations         team calibrations: submit, cancel, delete, the team's default, what an estimate uses
  calibration_worker   a worker fitting one calibration (claim, fit, write)
  calibration_reaper   fits whose worker died or whose message was lost
  comparisons          comparison jobs: the request's shape, submit, cancel, delete, fail
  comparison_messages  the chunk and finalise messages, and the window of chunks in flight
  comparison_worker    a worker's steps: claim, evaluate and write a chunk; finalise the job
  comparison_results   the merged result as stored rows and the job's summary
  comparison_reaper    chunks whose worker died, lost messages, jobs waiting for a finalise
  retry                a step run again on a new connection after a transient database error

Engine input errors surface as calculator.InputError (with .field); other rule violations as
django.core.exceptions.ValidationError (a dict of field -> messages) or PermissionDenied. The API maps
them to 400 and 403.
"""
