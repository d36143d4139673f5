#pragma once
// Where this process stands in its job, for code below lib/parallel (the JSON Lines writer must
// know whether it writes stdout). lib/parallel's world() records the rank once it knows it; before
// that, the launcher's environment tells.
namespace alexnet {

// Whether mpirun (or another MPI launcher) started this process, from its environment.
bool launched_by_mpi();
// Whether this process writes stdout and output files: rank 0 of a job (known from the launcher's
// environment before world() exists), or a process of its own.
bool lead_process();
// Called by world() when the job is made.
void set_job_rank(int rank);

}  // namespace alexnet
